"""What became of a request: queued for the agent, applied, or refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from collections.abc import Iterable


class ActionOutcome(BaseModel):
    """The answer to a request (also the inbox's ``done/<request_id>.result.json``)."""

    request_id: str = Field(description="The request's id.")
    kind: str = Field(description="The request's kind (rerun, pause, …; '?' when unreadable).")
    status: Literal["queued", "applied", "refused"] = Field(
        description="queued: left in the agent's inbox; applied: done; refused: not done."
    )
    n_fireworks: int = Field(0, ge=0, description="How many Fireworks it touched (or added).")
    message: str = Field("", description="One line for the admin.")
    campaign: str | None = Field(None, description="The campaign it concerned, if any.")
    fw_ids: list[int] = Field(default_factory=list, description="The Fireworks it touched.")
    duplicates: int = Field(0, ge=0, description="submit_flow: jobs already in the database.")
    n_jobs: int = Field(0, ge=0, description="submit_flow: jobs in the flow.")
    reused: list[dict[str, Any]] = Field(
        default_factory=list,
        description="submit_flow: relaxations left out, served by an existing Firework "
        "(spec.htflow_reused entries: job_uuid and fw_id of the original, replaced_job, name).",
    )

    def line(self) -> str:
        """One line for the CLI: ``rerun applied: 3 Fireworks (…)``."""
        what = f"{self.kind} {self.status}"
        if self.status == "applied":
            what += f": {self.n_fireworks} Firework{'s' if self.n_fireworks != 1 else ''}"
        return f"{what}: {self.message}" if self.message else what


def outcome_of(
    request: BaseModel,
    status: Literal["queued", "applied", "refused"],
    message: str = "",
    fw_ids: Iterable[int] = (),
    n_fireworks: int | None = None,
    **fields: Any,
) -> ActionOutcome:
    """The outcome of ``request`` (``n_fireworks`` defaults to the number of ``fw_ids``)."""
    ids = sorted(set(fw_ids))
    return ActionOutcome(
        request_id=str(getattr(request, "request_id", "?")),
        kind=str(getattr(request, "kind", "?")),
        status=status,
        message=message,
        campaign=getattr(request, "campaign", None),
        fw_ids=ids,
        n_fireworks=len(ids) if n_fireworks is None else n_fireworks,
        **fields,
    )
