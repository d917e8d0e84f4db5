"""A campaign's core-hours used and left, as ``htflow status`` counts them.

The allocations that ran the campaign's launches (the agent's records), charged with
``sacct``'s elapsed time or their recorded interval
(:func:`htflow.reports.status.allocation_core_hours`); the budget is the configured cluster
profile's ``core_hour_budget``. An ended job's elapsed time never changes, so ``sacct`` is
asked once per job, in the background; while it does not answer (no accounting), at most
once a minute. Until it has answered, a job counts its recorded interval.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from htflow.db.scan import scan

SACCT_RETRY = 60.0
_elapsed: dict[str, float] = {}
_last_try = 0.0
_lock = threading.Lock()


def campaign_core_hours(uri: str | None, fw_ids: set[int]) -> dict[str, Any]:
    """``used``, ``left`` (None without a budget), ``budget`` and ``allocations``."""
    from htflow.db.records import ALLOCATIONS, LAUNCHES
    from htflow.reports.status import allocation_core_hours

    launch_ids = {
        row["launch_id"]
        for row in scan(uri, LAUNCHES, ["launch_id"], {"fw_id": {"$in": fw_ids}})
        if "launch_id" in row
    }
    allocs = []
    if launch_ids:
        fields = ["job_id", "launch_ids", "resources", "submitted", "ended", "state"]
        for row in scan(uri, ALLOCATIONS, fields):
            if launch_ids.intersection(row.get("launch_ids") or []):
                allocs.append({k: _plain(v) for k, v in row.items()})
    profile = _profile()
    used = allocation_core_hours(allocs, _sacct([a for a in allocs if a.get("state") == "ended"]))
    budget = getattr(profile, "core_hour_budget", None)
    return {
        "used": used,
        "budget": budget,
        "left": budget - used if budget is not None else None,
        "allocations": len(allocs),
    }


def _plain(value: Any) -> Any:
    from htflow.db.scan import plain

    return plain(value)


def _profile() -> Any:
    from htflow.cluster import load_profile
    from htflow.exceptions import HtflowError
    from htflow.settings import get_settings

    try:
        return load_profile(get_settings().cluster_profile)
    except HtflowError:
        return None


def _sacct(ended: list[dict[str, Any]]) -> dict[str, float]:
    """Elapsed seconds known so far; asks ``sacct`` for the others in the background.

    A page never waits for ``sacct``: where SLURM's accounting does not answer, it can take
    many seconds to give up (18 s measured on a machine without SLURM).
    """
    global _last_try  # noqa: PLW0603 - one process-wide cache of immutable facts

    wanted = sorted({str(a["job_id"]) for a in ended if a.get("job_id")})
    with _lock:
        missing = [j for j in wanted if j not in _elapsed]
        if missing and time.monotonic() - _last_try > SACCT_RETRY:
            _last_try = time.monotonic()
            threading.Thread(target=_fetch, args=(missing,), daemon=True).start()
        return {j: _elapsed[j] for j in wanted if j in _elapsed}


def _fetch(job_ids: list[str]) -> None:
    from htflow.reports.status import sacct_elapsed

    found = sacct_elapsed(job_ids, _profile())
    with _lock:
        _elapsed.update(found)
