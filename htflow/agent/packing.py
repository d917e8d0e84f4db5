"""Packing: which prepared launches share one SLURM allocation, and how they run inside it.

Launches are grouped by the allocation they need (the profile's resources for their job
type, with the Firework's own overrides and any walltime a TIMEOUT raised), then cut into
allocations of at most ``calculations_per_allocation``. Inside an allocation the worker runs
``streams = total tasks // ranks per calculation`` calculations side by side and takes the
next directory whenever one finishes, until the walltime margin is reached; what is left is
submitted again by the agent. So an allocation never idles while it has work, and a short
calculation never waits for a long one in another stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from htflow.cluster.profile import ResourceSpec

if TYPE_CHECKING:
    from collections.abc import Iterable

    from htflow.cluster.profile import ClusterProfile, JobResources

# Keys of a Firework's ``htflow_resources`` that change the allocation it gets.
_OVERRIDABLE = set(ResourceSpec.model_fields)


@dataclass(frozen=True)
class Allocation:
    """Launches to submit together.

    Attributes
    ----------
    resources
        The allocation's size and time.
    launches
        Launch records (``htflow_launches`` documents), in the order they should run.
    """

    resources: JobResources
    launches: list[dict[str, Any]]

    @property
    def max_streams(self) -> int:
        """Groups of ``ranks_per_calculation`` the allocation holds (count)."""
        per_calc = max(1, self.resources.ranks_per_calculation)
        return max(1, self.resources.total_tasks // per_calc)

    @property
    def streams(self) -> int:
        """Calculations running side by side: one per group of ranks, at most one per launch."""
        return min(len(self.launches), self.max_streams)


def oldest_first(launches: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Launch records in the order they should run: oldest claim first, then launch id."""
    return sorted(launches, key=lambda d: (d.get("created", 0), d["launch_id"]))


def resources_of(profile: ClusterProfile, launch: dict[str, Any]) -> JobResources:
    """The allocation one launch needs: its job type's class, its overrides, its walltime."""
    base = profile.resources_for(launch.get("job_type"))
    overrides = {
        key: value
        for key, value in (launch.get("resources") or {}).items()
        if key in _OVERRIDABLE and value is not None
    }
    if overrides:
        spec = ResourceSpec.model_validate(overrides)
        overrides = spec.model_dump(exclude_none=True)
        overrides["walltime"] = spec.walltime if spec.walltime is not None else base.walltime
    if launch.get("walltime"):
        overrides["walltime"] = max(int(launch["walltime"]), overrides.get("walltime", 0))
    return base.model_copy(update=overrides) if overrides else base


def pack(
    profile: ClusterProfile, launches: Iterable[dict[str, Any]], max_allocations: int
) -> list[Allocation]:
    """Group ``launches`` into at most ``max_allocations`` allocations (oldest first).

    Launches that do not fit stay out (they wait for the next pass).
    """
    groups: dict[JobResources, list[dict[str, Any]]] = {}
    for launch in oldest_first(launches):
        groups.setdefault(resources_of(profile, launch), []).append(launch)
    out: list[Allocation] = []
    for resources, members in groups.items():
        size = max(1, resources.calculations_per_allocation)
        for start in range(0, len(members), size):
            out.append(Allocation(resources, members[start : start + size]))
    # Fullest allocations first: they use the queue slots best.
    out.sort(key=lambda a: (-len(a.launches), a.launches[0].get("created", 0)))
    return out[: max(0, max_allocations)]
