"""The dispatch steps of a pass: claim READY Fireworks, top up open allocations, submit new ones.

1. **claim** READY Fireworks into launch directories (:func:`htflow.agent.offline.claim`),
   as many as the free queue slots and the open allocations can run;
2. **top up** queued and running allocations with waiting launches that fit them
   (:mod:`htflow.agent.topup`), so an allocation's streams do not idle while work is READY;
3. **pack** the remaining waiting launches into allocations (:mod:`htflow.agent.packing`)
   and submit each with ``sbatch``, keeping at most ``max_jobs_in_queue`` allocations queued.

An allocation is recorded (state ``submitting``) before its job script is submitted, and
gets its job id after: start-up recovery (:mod:`htflow.agent.recovery`) resolves the ones in
between.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from htflow.actions.priority import apply_recorded_priorities
from htflow.actions.store import held_campaigns
from htflow.agent import records, topup
from htflow.agent.offline import claim
from htflow.agent.packing import Allocation, oldest_first, pack
from htflow.cluster import slurm
from htflow.cluster.render import write_job_script
from htflow.launch import feed
from htflow.launch.worker import worker_command

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")


def free_slots(lp: LaunchPad, profile: ClusterProfile) -> int:
    """How many more allocations may be queued now (``max_jobs_in_queue`` less the active)."""
    return max(0, profile.max_jobs_in_queue - len(records.active_allocations(lp)))


def claim_ready(
    lp: LaunchPad, jobstore: JobStore, profile: ClusterProfile, launches_dir: Path, room: int = 0
) -> int:
    """Claim as many READY Fireworks as free slots and open ``room`` can run; return how many.

    Launches already waiting for an allocation count against what is wanted. Fireworks of
    paused or cancelled campaigns are not claimed; READY Fireworks of a campaign an admin
    gave a priority get it first (:mod:`htflow.actions`).
    """
    free = free_slots(lp, profile)
    if not free and not room:
        return 0
    waiting = records.launches(lp).count_documents({"done": False, "alloc_id": None})
    per_alloc = max(
        [profile.calculations_per_allocation]
        + [r.calculations_per_allocation or 0 for r in profile.resources.values()]
    )
    wanted = free * per_alloc + room - waiting
    if wanted <= 0:
        return 0
    apply_recorded_priorities(lp)
    held = held_campaigns(lp)
    claimed = claim(lp, wanted, launches_dir, jobstore=jobstore, exclude_campaigns=held)
    for launch in claimed:
        records.add_launch(
            lp,
            launch_id=launch.launch_id,
            fw_id=launch.fw_id,
            launch_dir=str(launch.launch_dir),
            job_type=launch.job_type,
            name=launch.name,
            resources=launch.resources,
        )
    if claimed:
        logger.info("claimed %d Fireworks", len(claimed))
    return len(claimed)


def top_up_open(
    lp: LaunchPad, profile: ClusterProfile, open_allocs: list[topup.OpenAllocation]
) -> int:
    """Append waiting launches, oldest first, to ``open_allocs``; return how many went."""
    if not open_allocs:
        return 0
    fed = 0
    waiting = oldest_first(records.launches(lp).find({"done": False, "alloc_id": None}))
    for alloc_id, ids in topup.top_up(lp, profile, open_allocs, waiting):
        logger.info("allocation %s takes %d more launches: %s", alloc_id, len(ids), ids)
        fed += len(ids)
    return fed


def submit_waiting(
    lp: LaunchPad, profile: ClusterProfile, agent_dir: Path, worker_python: str
) -> int:
    """Pack the waiting launches into new allocations and submit them; return how many."""
    free = free_slots(lp, profile)
    if not free:
        return 0
    submitted = 0
    waiting = list(records.launches(lp).find({"done": False, "alloc_id": None}))
    for allocation in pack(profile, waiting, free):
        submit_allocation(lp, profile, allocation, agent_dir, worker_python)
        submitted += 1
    return submitted


def submit_allocation(
    lp: LaunchPad,
    profile: ClusterProfile,
    allocation: Allocation,
    agent_dir: Path,
    worker_python: str,
) -> None:
    """Record ``allocation``, write its queue and job script, and ``sbatch`` it."""
    alloc_id = records.next_alloc_id(lp)
    alloc_dir = agent_dir / "allocations" / f"a{alloc_id:06d}"
    alloc_dir.mkdir(parents=True, exist_ok=True)
    launch_ids = [d["launch_id"] for d in allocation.launches]
    dirs = [d["launch_dir"] for d in allocation.launches]
    job_name = f"htflow-a{alloc_id}"
    # An allocation that may be topped up starts every stream it has room for.
    streams = allocation.streams
    if profile.allocation_idle_wait:
        streams = allocation.max_streams
    records.allocations(lp).insert_one(
        {
            "alloc_id": alloc_id,
            "job_id": None,
            "job_name": job_name,
            "state": "submitting",
            "slurm_state": None,
            "launch_ids": launch_ids,
            "dir": str(alloc_dir),
            "streams": streams,
            "resources": allocation.resources.model_dump(mode="json"),
            "submitted": time.time(),
        }
    )
    records.launches(lp).update_many(
        {"launch_id": {"$in": launch_ids}}, {"$set": {"alloc_id": alloc_id}}
    )
    feed.append(alloc_dir, dirs)
    args = ["--streams", str(streams)] if streams > 1 else []
    command = worker_command(worker_python, *args, "--queue", str(alloc_dir))
    script = write_job_script(profile, command, alloc_dir, job_name, resources=allocation.resources)
    job_id = slurm.sbatch(script, alloc_dir, profile=profile)
    records.allocations(lp).update_one(
        {"alloc_id": alloc_id}, {"$set": {"job_id": job_id, "state": "queued"}}
    )
    logger.info(
        "submitted allocation %s as job %s: %d launches, %d side by side, walltime %d s",
        alloc_id,
        job_id,
        len(dirs),
        streams,
        allocation.resources.walltime,
    )
