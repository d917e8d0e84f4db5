"""Topping up allocations: waiting launches join an allocation that is already queued or running.

A packed allocation keeps its streams busy only while it has directories left. Work that
becomes READY later (the static after a relaxation, the fit after the EOS points) would
otherwise wait for a new allocation, which costs a pass of the scheduler, a Python start in
the job and, on a real cluster, a place at the back of the queue. So before it submits new
allocations the agent appends waiting launches to open allocations whose resources fit
(:mod:`htflow.launch.feed` is the file protocol), keeping each allocation's backlog at most
one directory per stream so the work stays spread over allocations. It also tells each
allocation whether to wait for more when it runs dry (the *hold*): only while Fireworks are
still WAITING or READY.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.actions.store import held_campaigns
from htflow.agent import records
from htflow.agent.packing import resources_of
from htflow.cluster.profile import JobResources
from htflow.launch import feed
from htflow.launch.spec import CAMPAIGN_KEY
from htflow.launch.worker import launch_state

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.cluster.profile import ClusterProfile

# What an allocation must share with a launch for the launch to run in it (walltime aside:
# the worker starts nothing without time left, and what it cannot start is requeued).
_SHAPE = (
    "partition",
    "account",
    "qos",
    "nodes",
    "tasks_per_node",
    "cpus_per_task",
    "memory_mb",
    "ranks_per_calculation",
)


@dataclass
class OpenAllocation:
    """An allocation that still reads its queue, and how many more launches it should take."""

    record: dict[str, Any]
    resources: JobResources
    room: int

    @property
    def dir(self) -> Path:
        """The allocation directory."""
        return Path(self.record["dir"])


def fits(launch_resources: JobResources, alloc_resources: JobResources) -> bool:
    """Whether a launch needing ``launch_resources`` can run in the allocation."""
    return all(getattr(launch_resources, k) == getattr(alloc_resources, k) for k in _SHAPE)


def open_allocations(lp: LaunchPad, profile: ClusterProfile) -> list[OpenAllocation]:
    """Active allocations that still read their queue and have time and streams to spare.

    Running allocations come first (their streams are the ones about to idle).
    """
    now = time.time()
    out = []
    for alloc in records.active_allocations(lp):
        if not alloc.get("job_id") or not feed.is_open(alloc["dir"]):
            continue
        resources = JobResources.model_validate(alloc["resources"])
        started = alloc.get("started")
        left = resources.walltime - (now - started) if started else resources.walltime
        if left < 2 * profile.walltime_margin:
            continue
        streams = alloc.get("streams", 1)
        room = streams - _backlog(lp, alloc["alloc_id"], streams)
        if room > 0:
            out.append(OpenAllocation(alloc, resources, room))
    out.sort(key=lambda a: (a.record.get("slurm_state") != "RUNNING", a.record["alloc_id"]))
    return out


def _backlog(lp: LaunchPad, alloc_id: int, enough: int) -> int:
    """Launches of the allocation its worker has not started yet, counted up to ``enough``."""
    count = 0
    query = {"alloc_id": alloc_id, "done": False}
    for launch in records.launches(lp).find(query, {"launch_dir": 1}):
        try:
            count += launch_state(launch["launch_dir"]) == "RESERVED"
        except (OSError, ValueError):
            continue
        if count >= enough:
            break
    return count


def top_up(
    lp: LaunchPad,
    profile: ClusterProfile,
    allocations: list[OpenAllocation],
    waiting: list[dict[str, Any]],
) -> list[tuple[int, list[int]]]:
    """Append fitting ``waiting`` launches to ``allocations``; return (alloc_id, launch ids).

    The records are written first, then the queue line: an agent killed in between leaves a
    launch its allocation never sees, which is requeued when the allocation ends.
    """
    done = []
    left = list(waiting)
    needs = {launch["launch_id"]: resources_of(profile, launch) for launch in left}
    for alloc in allocations:
        chosen = [launch for launch in left if fits(needs[launch["launch_id"]], alloc.resources)][
            : alloc.room
        ]
        if not chosen:
            continue
        alloc_id = alloc.record["alloc_id"]
        ids = [launch["launch_id"] for launch in chosen]
        records.launches(lp).update_many(
            {"launch_id": {"$in": ids}}, {"$set": {"alloc_id": alloc_id}}
        )
        records.allocations(lp).update_one(
            {"alloc_id": alloc_id}, {"$push": {"launch_ids": {"$each": ids}}}
        )
        if not feed.append(alloc.dir, [launch["launch_dir"] for launch in chosen]):
            # The worker closed its queue meanwhile: the launches wait for another allocation.
            records.launches(lp).update_many(
                {"launch_id": {"$in": ids}}, {"$set": {"alloc_id": None}}
            )
            records.allocations(lp).update_one(
                {"alloc_id": alloc_id}, {"$pullAll": {"launch_ids": ids}}
            )
            continue
        left = [launch for launch in left if launch["launch_id"] not in ids]
        done.append((alloc_id, ids))
    return done


def more_work_expected(lp: LaunchPad) -> bool:
    """Whether Fireworks are still WAITING or READY, or launches wait for an allocation.

    Fireworks of paused or cancelled campaigns do not count: no allocation waits for them.
    """
    if records.launches(lp).find_one({"done": False, "alloc_id": None}, {"_id": 1}):
        return True
    query: dict[str, Any] = {"state": {"$in": ["WAITING", "READY"]}}
    held = held_campaigns(lp)
    if held:
        query[f"spec.{CAMPAIGN_KEY}"] = {"$nin": held}
    return lp.fireworks.find_one(query, {"_id": 1}) is not None


def set_holds(lp: LaunchPad, hold: bool) -> None:
    """Write (or remove) the hold of every active allocation whose queue is open."""
    for alloc in records.active_allocations(lp):
        if feed.is_open(alloc["dir"]):
            feed.set_hold(alloc["dir"], hold)
