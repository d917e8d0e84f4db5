"""Start-up recovery: put right whatever a killed predecessor of the agent left.

Each part is a no-op after a clean stop: workflow locks left held, Fireworks claimed but
not prepared, launch directories prepared but not recorded, and allocations recorded as
being submitted but without a SLURM job id.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.actions.launches import finish_put_backs
from htflow.agent import records
from htflow.agent.offline import (
    LAUNCH_MANIFEST,
    clear_workflow_locks,
    pending_launch_dirs,
    release_unprepared,
)
from htflow.cluster import slurm

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")


def recover(lp: LaunchPad, profile: ClusterProfile) -> None:
    """Start-up recovery after a crash (each part is a no-op after a clean stop)."""
    unlocked = clear_workflow_locks(lp)
    released = release_unprepared(lp)
    put_back = finish_put_backs(lp)
    known = {doc["launch_id"] for doc in records.launches(lp).find({}, {"launch_id": 1})}
    adopted = 0
    for launch_dir in pending_launch_dirs(lp):
        manifest = _manifest(launch_dir)
        if manifest is None or manifest["launch_id"] in known:
            continue
        records.add_launch(
            lp,
            launch_id=manifest["launch_id"],
            fw_id=manifest["fw_id"],
            launch_dir=str(launch_dir),
            job_type=manifest.get("job_type", "small"),
            name=manifest.get("name", ""),
            resources=manifest.get("resources"),
        )
        adopted += 1
    orphans = _recover_submitting(lp, profile)
    logger.info(
        "recovery: %d workflow locks cleared, %d half-claimed Fireworks released, "
        "%d launches adopted, %d unrecorded submissions resolved, %d withdrawals finished",
        unlocked,
        len(released),
        adopted,
        orphans,
        put_back,
    )


def _recover_submitting(lp: LaunchPad, profile: ClusterProfile) -> int:
    """Allocations recorded but without a job id: find the job, or put the launches back."""
    count = 0
    for alloc in records.allocations(lp).find({"state": "submitting"}):
        count += 1
        job_id = _job_id_from_outputs(Path(alloc["dir"])) or _job_id_by_name(alloc, profile)
        if job_id is not None:
            records.allocations(lp).update_one(
                {"alloc_id": alloc["alloc_id"]}, {"$set": {"job_id": job_id, "state": "queued"}}
            )
            continue
        records.allocations(lp).update_one(
            {"alloc_id": alloc["alloc_id"]},
            {"$set": {"state": "ended", "slurm_state": "NOT_SUBMITTED", "ended": time.time()}},
        )
        records.launches(lp).update_many(
            {"alloc_id": alloc["alloc_id"]}, {"$set": {"alloc_id": None}}
        )
    return count


def _job_id_by_name(alloc: dict[str, Any], profile: ClusterProfile) -> str | None:
    env = slurm.slurm_environment(profile)
    try:
        out = subprocess.run(
            ["squeue", "-h", "--me", "-o", "%i|%j"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        job, _, name = line.partition("|")
        if name == alloc["job_name"]:
            return job
    return None


def _manifest(launch_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((launch_dir / LAUNCH_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data


def _job_id_from_outputs(alloc_dir: Path) -> str | None:
    outputs = sorted(alloc_dir.glob("slurm-*.out"))
    return outputs[-1].name.removeprefix("slurm-").removesuffix(".out") if outputs else None
