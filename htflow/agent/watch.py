"""Watching the queue: the SLURM state of each allocation the agent submitted.

``squeue`` answers for jobs the controller still holds; a job that left it is looked up in
``sacct`` (or the job-completion file without accounting). A job neither knows has vanished:
it is reported ``LOST`` and its unfinished launches are requeued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.cluster import slurm

if TYPE_CHECKING:
    from collections.abc import Iterable

    from htflow.cluster.profile import ClusterProfile

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
        records = slurm.sacct(ended, profile=profile)
        for job in ended:
            record = records.get(job)
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
