"""Watching the queue: the SLURM state of each allocation the agent submitted.

``squeue`` answers for jobs the controller still holds; a job that left it is looked up in
``sacct`` (or the job-completion file without accounting). A job neither knows has vanished:
it is reported ``LOST`` and its unfinished launches are requeued.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from htflow.agent import records
from htflow.cluster import slurm

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fireworks import LaunchPad

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")

# squeue states of a job that is still (or about to be) running.
ALIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "RESV_DEL_HOLD",
    }
)
LOST = "LOST"


def job_states(job_ids: Iterable[str], profile: ClusterProfile) -> dict[str, str]:
    """Job id → state: a live squeue state, a final state (TIMEOUT, CANCELLED…) or ``LOST``."""
    ids = [str(j) for j in job_ids]
    if not ids:
        return {}
    states = slurm.squeue(ids, profile=profile)
    ended = [j for j in ids if states.get(j) not in ALIVE_STATES]
    if ended:
        accounted = slurm.sacct(ended, profile=profile)
        for job in ended:
            record = accounted.get(job)
            if record is not None and record.state not in ALIVE_STATES:
                states[job] = record.state
            elif job in states:
                pass  # squeue already gives its final state
            else:
                states[job] = LOST
    return {job: states[job] for job in ids}


def is_alive(state: str) -> bool:
    """Whether a job in ``state`` may still run launches."""
    return state in ALIVE_STATES


def watch_allocations(lp: LaunchPad, profile: ClusterProfile) -> list[dict[str, Any]]:
    """Record the SLURM state of the active allocations; return those that ended now."""
    active = [a for a in records.active_allocations(lp) if a.get("job_id")]
    if not active:
        return []
    states = job_states([a["job_id"] for a in active], profile)
    ended = []
    for alloc in active:
        state = states.get(alloc["job_id"], LOST)
        if is_alive(state):
            if state != alloc.get("slurm_state"):
                change: dict[str, Any] = {"slurm_state": state}
                if state == "RUNNING":
                    change["started"] = time.time()
                records.allocations(lp).update_one(
                    {"alloc_id": alloc["alloc_id"]}, {"$set": change}
                )
                if state == "RUNNING":
                    logger.info(
                        "allocation %s (job %s) running", alloc["alloc_id"], alloc["job_id"]
                    )
            continue
        records.allocations(lp).update_one(
            {"alloc_id": alloc["alloc_id"]},
            {"$set": {"state": "ended", "slurm_state": state, "ended": time.time()}},
        )
        logger.info("allocation %s (job %s) ended %s", alloc["alloc_id"], alloc["job_id"], state)
        alloc["slurm_state"] = state
        ended.append(alloc)
    return ended
