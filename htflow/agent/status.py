"""``htflow agent status``: read-only report (never takes the writer lock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

FW_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "COMPLETED", "FIZZLED", "DEFUSED", "PAUSED")


def agent_status(
    agent_dir: Path, db_uri: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """pid (None when not running), writer-lock holder, Fireworks by state, queued SLURM jobs."""
    from htflow.agent import records
    from htflow.agent.daemon import read_pid
    from htflow.agent.watch import is_alive
    from htflow.cluster import load_profile, slurm
    from htflow.db import get_launchpad, lock_holder

    report: dict[str, Any] = {
        "pid": read_pid(agent_dir),
        "lock_holder": lock_holder(db_uri),
        "fireworks": {},
        "slurm_jobs": {},
    }
    lp = get_launchpad(db_uri)
    for state in FW_STATES:
        count = lp.fireworks.count_documents({"state": state})
        if count:
            report["fireworks"][state] = count
    job_ids = [a["job_id"] for a in records.active_allocations(lp) if a.get("job_id")]
    if job_ids:
        try:
            states = slurm.squeue(job_ids, profile=load_profile(profile))
            report["slurm_jobs"] = {j: s for j, s in states.items() if is_alive(s)}
        except slurm.SlurmUnavailableError as exc:
            report["error"] = str(exc)
    return report
