"""The ``active`` strategy of a campaign: what to optimise, with which model, at what cost.

```yaml
objective: {field: band_gap, goal: target, target: 1.4}   # eV
constraints: [{field: energy_above_hull, max: 0.1}]        # eV/atom
surrogate: {backend: gp}
acquisition: {kind: ei, batch_size: 3, diversity: kriging_believer}
initial: {size: 4, seed: 0}
budget: {calculations: 20}
stop: {target_value: 0.1, no_improvement_rounds: 3}
```

Every model is frozen and rejects unknown keys; docs/active_learning.md is the reference.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from htflow.active.objective_fields import OBJECTIVE_FIELDS, check_field, unit_of
from htflow.exceptions import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known(field: str, role: str) -> None:
    if field not in OBJECTIVE_FIELDS:
        raise ValueError(
            f"unknown {role} field {field!r}: use one of {', '.join(sorted(OBJECTIVE_FIELDS))}"
        )


class Objective(_Strict):
    """The materials field to optimise and in which direction."""

    field: str = Field(description="Materials-document field, e.g. 'band_gap' (its own units).")
    goal: Literal["maximize", "minimize", "target"] = Field(
        description="'maximize', 'minimize', or 'target': bring the field closest to target."
    )
    target: float | None = Field(
        None, description="The value to approach, in the field's units (eV for band_gap)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        _known(self.field, "objective")
        if self.goal == "target" and self.target is None:
            raise ValueError("goal 'target' needs a target value: add target: <number>")
        if self.goal != "target" and self.target is not None:
            raise ValueError(
                f"goal {self.goal!r} takes no target: remove target or use goal: target"
            )
        return self

    @property
    def unit(self) -> str:
        """The field's unit ('' for dimensionless numbers)."""
        return unit_of(self.field)

    def utility(self, values: np.ndarray) -> np.ndarray:
        """Larger is better: y (maximize), −y (minimize), −|y − target| (target); field units."""
        y = np.asarray(values, dtype=float)
        if self.goal == "maximize":
            return y
        if self.goal == "minimize":
            return -y
        assert self.target is not None
        return -np.abs(y - self.target)

    def describe(self) -> str:
        """A short phrase: 'band_gap closest to 1.4 eV', 'k_vrh maximal'."""
        if self.goal == "target":
            return f"{self.field} closest to {self.target:g} {self.unit}".rstrip()
        return f"{self.field} {'maximal' if self.goal == 'maximize' else 'minimal'}"


class Constraint(_Strict):
    """A bound on another field: results outside it are infeasible (they still train)."""

    field: str = Field(description="Materials-document field, e.g. 'energy_above_hull'.")
    min: float | None = Field(None, description="Smallest allowed value, in the field's units.")
    max: float | None = Field(None, description="Largest allowed value, in the field's units.")

    @model_validator(mode="after")
    def _bounds(self) -> Constraint:
        _known(self.field, "constraint")
        if self.min is None and self.max is None:
            raise ValueError(f"constraint on {self.field!r} has no bound: give min:, max: or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.field!r} has min > max: swap them")
        return self

    def satisfied(self, value: float | bool | None) -> bool:
        """Whether ``value`` (field units; a flag counts as 0/1) is within the bounds; None: no."""
        if value is None:
            return False
        number = float(value)
        if self.min is not None and number < self.min:
            return False
        return not (self.max is not None and number > self.max)


class SurrogateSpec(_Strict):
    """The model that predicts the objective (mean and uncertainty, in the field's units)."""

    backend: Literal["gp"] = Field(
        "gp", description="A name in htflow.active.surrogate.SURROGATES; 'gp': Gaussian process."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend options; gp: ard (bool, one length scale per feature), restarts "
        "(count of optimizer restarts), nu (Matérn smoothness, dimensionless).",
    )


class AcquisitionSpec(_Strict):
    """How the next batch is chosen from the surrogate's predictions."""

    kind: Literal["ei", "ucb", "greedy"] = Field(
        "ei", description="Expected improvement, upper confidence bound, or best prediction."
    )
    batch_size: int = Field(1, ge=1, description="Candidates sent to DFT per round (count).")
    kappa: float = Field(
        2.0, ge=0, description="UCB's weight on the uncertainty (dimensionless, in σ)."
    )
    xi: float = Field(
        0.0, ge=0, description="EI's required improvement margin, in the objective's units."
    )
    diversity: Literal["kriging_believer", "none"] = Field(
        "kriging_believer",
        description="'kriging_believer': each pick is added as a fantasy observation at its "
        "predicted mean before the next pick; 'none': the top batch_size scores.",
    )


class InitialSpec(_Strict):
    """The first batch, chosen before any model exists: spread out in feature space."""

    size: int | None = Field(
        None, ge=1, description="Candidates in the first batch (count); None: batch_size, ≥ 2."
    )
    seed: int = Field(0, description="Seed of the random first pick (dimensionless).")


class Budget(_Strict):
    """What the campaign may spend; it stops at whichever limit comes first."""

    calculations: int | None = Field(
        None, description="Candidates sent to DFT, the initial batch included (count)."
    )
    core_hours: float | None = Field(
        None, description="Core-hours of the campaign's DFT runs (core·h)."
    )

    @model_validator(mode="after")
    def _positive(self) -> Budget:
        if self.calculations is None and self.core_hours is None:
            raise ValueError("a budget needs calculations:, core_hours: or both")
        if self.calculations is not None and self.calculations <= 0:
            raise ValueError(
                f"budget of {self.calculations} calculations: give at least 1 calculation"
            )
        if self.core_hours is not None and self.core_hours <= 0:
            raise ValueError(f"budget of {self.core_hours:g} core-hours: give a positive number")
        return self


class StopSpec(_Strict):
    """When the loop ends before the budget is spent.

    ``target_value`` is reached by a *feasible* result y when y ≥ target_value (maximize),
    y ≤ target_value (minimize), or |y − objective.target| ≤ target_value (target: there it
    is a tolerance around the objective's target, in the field's units).
    """

    target_value: float | None = Field(
        None,
        description="Stop once a feasible result reaches it (field units; for goal target, "
        "the tolerance |y − target|); None: never for this reason.",
    )
    no_improvement_rounds: int | None = Field(
        3,
        ge=1,
        description="Stop after this many rounds in a row without a better feasible result "
        "(count; CAMD's rule); None: never for this reason.",
    )


class ActiveSpec(_Strict):
    """The whole ``active`` strategy of a campaign."""

    objective: Objective = Field(description="What to optimise (field, goal, target).")
    constraints: list[Constraint] = Field(
        default_factory=list, description="Bounds that decide which results are feasible."
    )
    surrogate: SurrogateSpec = Field(
        default_factory=SurrogateSpec, description="The model of the objective."
    )
    acquisition: AcquisitionSpec = Field(
        default_factory=AcquisitionSpec, description="How each batch is chosen."
    )
    initial: InitialSpec = Field(default_factory=InitialSpec, description="The first batch.")
    budget: Budget = Field(description="Calculations and/or core-hours the loop may spend.")
    stop: StopSpec = Field(default_factory=StopSpec, description="Early stop rules.")

    @model_validator(mode="after")
    def _target_tolerance(self) -> ActiveSpec:
        tolerance = self.stop.target_value
        if self.objective.goal == "target" and tolerance is not None and tolerance < 0:
            raise ValueError(
                "stop.target_value is a tolerance |y - target| for goal target: give it ≥ 0"
            )
        return self

    def initial_size(self) -> int:
        """Candidates in the first batch: initial.size, else batch_size but at least 2."""
        if self.initial.size is not None:
            return self.initial.size
        return max(self.acquisition.batch_size, 2)

    def is_feasible(self, values: dict[str, Any]) -> bool:
        """Whether a result (materials field → value) satisfies every constraint."""
        return all(c.satisfied(values.get(c.field)) for c in self.constraints)

    def fields(self) -> list[str]:
        """Every materials field the strategy reads: the objective's, then the constraints'."""
        return list(dict.fromkeys([self.objective.field, *(c.field for c in self.constraints)]))


def check_objective(spec: ActiveSpec, workflows: list[str]) -> None:
    """Raise InputError (one line) unless the campaign's workflows compute every field used.

    Parameters
    ----------
    spec
        The active strategy.
    workflows
        Names of the campaign's workflows (``relax_static_dos``, ``elastic`` …).
    """
    check_field(spec.objective.field, workflows, "objective")
    for constraint in spec.constraints:
        check_field(constraint.field, workflows, "constraint")


def check_pool(spec: ActiveSpec, pool_size: int) -> None:
    """Raise InputError when a batch cannot be filled from a pool of ``pool_size`` candidates."""
    if pool_size < 1:
        raise InputError("the active campaign's pool is empty: add sources or relax the filters")
    batch = spec.acquisition.batch_size
    if batch > pool_size:
        raise InputError(
            f"acquisition.batch_size {batch} is larger than the pool of {pool_size} "
            f"candidates: give batch_size ≤ {pool_size}"
        )
    if spec.initial.size is not None and spec.initial.size > pool_size:
        raise InputError(
            f"initial.size {spec.initial.size} is larger than the pool of {pool_size} "
            f"candidates: give size ≤ {pool_size}"
        )


def parse_active(data: Any, source: str = "active") -> ActiveSpec:
    """Validate loaded ``active`` data; InputError with one line naming the key path."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: the active strategy must be a mapping (objective, budget …)")
    try:
        return ActiveSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "active"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key: remove it or fix its spelling (see docs/active_learning.md)"
        elif first["type"] == "missing":
            message = "required: add it (see docs/active_learning.md)"
        raise InputError(f"{source}: key {key!r}: {message}") from exc
