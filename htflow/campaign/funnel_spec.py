"""The ``funnel:`` section of a campaign: cheap ML stages before DFT.

```yaml
funnel:
  stages: [ml_relax, ml_screen, dft]   # in this order; ml_screen and dft may be left out
  model: chgnet                        # or sevenn
  margin: 0.1                          # eV/atom above the model's own hull
```

- ``ml_relax``: every candidate (and the elemental references and known phases the hull
  needs) is relaxed by the universal potential with Matbench Discovery's protocol (FIRE,
  FrechetCellFilter, fmax 0.05 eV/Å, at most 500 steps).
- ``ml_screen``: a candidate is kept when its ML energy above the ML hull is at most
  ``margin``; the others stay in the database (``screening``) with their numbers and reason.
- ``dft``: the campaign's workflows start from the ML-relaxed structures of the kept ones.

Without ``ml_screen`` every candidate is kept (pre-relaxation only); without ``dft`` nothing
is computed after the screen.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FunnelStage = Literal["ml_relax", "ml_screen", "dft"]
STAGE_ORDER: tuple[FunnelStage, ...] = ("ml_relax", "ml_screen", "dft")


class Funnel(BaseModel):
    """ML stages that run before (and decide) the campaign's DFT workflows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: list[FunnelStage] = Field(
        default_factory=lambda: list(STAGE_ORDER),
        description="Stages in order: ml_relax, then optionally ml_screen, then optionally dft.",
    )
    model: str = Field("chgnet", description="Universal ML potential: chgnet or sevenn.")
    margin: float = Field(
        0.1,
        ge=0,
        description="Largest ML energy above the ML hull a kept candidate may have (eV/atom).",
    )
    fmax: float = Field(
        0.05, gt=0, description="Force threshold of the ML relaxation (eV/Å); Matbench: 0.05."
    )
    max_steps: int = Field(
        500, ge=1, description="Most FIRE steps of the ML relaxation (count); Matbench: 500."
    )

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        from htflow.exceptions import HtflowError
        from htflow.ml.models import check_model

        try:
            return check_model(value)
        except HtflowError as exc:  # pydantic names the key for a ValueError
            raise ValueError(str(exc)) from None

    @field_validator("stages")
    @classmethod
    def _order(cls, value: list[FunnelStage]) -> list[FunnelStage]:
        if not value:
            raise ValueError("list at least the stage ml_relax")
        for stage in value:
            if value.count(stage) > 1:
                raise ValueError(f"funnel stage {stage!r} is listed twice")
        positions = [STAGE_ORDER.index(stage) for stage in value]
        for before, after in itertools.pairwise(value):
            if STAGE_ORDER.index(after) < STAGE_ORDER.index(before):
                raise ValueError(
                    f"funnel stage {after!r} comes after {before!r}: list the stages in the "
                    f"order {', '.join(STAGE_ORDER)}"
                )
        if positions[0] != 0:
            raise ValueError(
                f"funnel stage {value[0]!r} needs ml_relax before it: list the stages in the "
                f"order {', '.join(STAGE_ORDER)}"
            )
        return value

    @property
    def screens(self) -> bool:
        """Whether the ML screen decides which candidates reach DFT."""
        return "ml_screen" in self.stages

    @property
    def runs_dft(self) -> bool:
        """Whether the campaign's workflows run after the ML stages."""
        return "dft" in self.stages


__all__ = ["STAGE_ORDER", "Funnel", "FunnelStage"]
