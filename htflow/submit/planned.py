"""Submit a stored campaign plan's flows from the agent: the funnel's DFT stage and the rounds
of an active campaign.

Both read the campaign spec back from a job's output and submit flows one candidate at a
time with the campaign's resources, protocol and duplicate rule, collecting the fw_ids of
what was added and of what the duplicate check found instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from htflow.submit import submit_flow
from htflow.submit.campaign import resources_of

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from fireworks import LaunchPad

    from htflow.submit.campaign import _Planned, _Spec


@dataclass
class Submitted:
    """What one call submitted: the fw_ids (added or matched) and how many flows of each."""

    fw_ids: list[int]
    added: int
    found: int


@dataclass
class _StoredPlan:
    """What ``resources_of`` reads of a plan."""

    path: Path
    spec: _Spec
    flows: tuple[()] = ()


@dataclass
class PlannedSubmitter:
    """Submits flows with a campaign's resources (from its cluster profile, read once),
    protocol and ``dedupe.against_database`` rule."""

    lp: LaunchPad
    spec: _Spec
    path: Path
    resources: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.resources = resources_of(_StoredPlan(self.path, self.spec))

    def __call__(self, flows: Sequence[_Planned]) -> Submitted:
        fw_ids: list[int] = []
        added = found = 0
        for planned in flows:
            result = submit_flow(
                planned.flow,
                self.lp,
                resources=self.resources,
                protocol=self.spec.protocol,
                dedupe=self.spec.dedupe.against_database,
            )
            if result.submitted:
                added += 1
                fw_ids += result.fw_ids.values()
            else:
                found += 1
                fw_ids += [m["fw_id"] for d in result.duplicates for m in d.matches]
        return Submitted(sorted(set(fw_ids)), added, found)


__all__ = ["PlannedSubmitter", "Submitted"]
