"""What the actions do to the agent's launch records (:mod:`htflow.db.records`).

A launch the agent claimed but has not handed to an allocation yet (``alloc_id`` None) can
be *put back*: its record is closed (state ``WITHDRAWN``), FireWorks forgets its offline
run and the Firework is rerun to READY (its launch moves to ``archived_launches``). A
launch already in an allocation's queue can only be *withdrawn* if no stream runs it: it
is fizzled in its directory under the run lock (:func:`htflow.launch.worker.withdraw`) and
the agent ingests it as FIZZLED at its next pass.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from htflow.db import records
from htflow.launch.worker import withdraw

if TYPE_CHECKING:
    from fireworks import LaunchPad

logger = logging.getLogger("htflow.agent")
WITHDRAWN = "WITHDRAWN"


def put_back_unsubmitted(lp: LaunchPad, fw_ids: list[int], reason: str) -> list[int]:
    """Put back the launches of ``fw_ids`` that wait for an allocation; their fw_ids.

    The record is closed first, so a launch is never packed after its Firework went back
    to READY; an agent killed in between finishes at start-up (:func:`finish_put_backs`).
    """
    waiting = list(
        records.launches(lp).find(
            {"fw_id": {"$in": fw_ids}, "done": False, "alloc_id": None}, {"_id": 0}
        )
    )
    for launch in waiting:
        records.launches(lp).update_one(
            {"launch_id": launch["launch_id"]},
            {"$set": {"done": True, "state": WITHDRAWN, "withdrawn": reason}},
        )
        _put_back(lp, launch["fw_id"], launch["launch_id"])
    return sorted({launch["fw_id"] for launch in waiting})


def finish_put_backs(lp: LaunchPad) -> int:
    """Put back the Fireworks of withdrawn launches that are still claimed (after a crash)."""
    count = 0
    for launch in records.launches(lp).find({"state": WITHDRAWN}, {"fw_id": 1, "launch_id": 1}):
        doc = lp.fireworks.find_one({"fw_id": launch["fw_id"]}, {"state": 1, "launches": 1})
        claimed = doc and doc["state"] in ("RESERVED", "RUNNING")
        if claimed and launch["launch_id"] in (doc.get("launches") or []):
            _put_back(lp, launch["fw_id"], launch["launch_id"])
            count += 1
    return count


def _put_back(lp: LaunchPad, fw_id: int, launch_id: int) -> None:
    lp.forget_offline(launch_id)
    lp.rerun_fw(fw_id, rerun_duplicates=False)
    logger.info("launch %s (fw %s) put back: the Firework is READY again", launch_id, fw_id)


def mark_cancelled(lp: LaunchPad, fw_ids: list[int], reason: str) -> None:
    """Mark the open launches of ``fw_ids``: the requeue step fizzles them, never requeues."""
    records.launches(lp).update_many(
        {"fw_id": {"$in": fw_ids}, "done": False}, {"$set": {"cancelled": reason}}
    )


def withdraw_queued(lp: LaunchPad, fw_ids: list[int], reason: str) -> list[int]:
    """Withdraw the launches of ``fw_ids`` in an allocation's queue that no stream runs."""
    queued = records.launches(lp).find(
        {"fw_id": {"$in": fw_ids}, "done": False, "alloc_id": {"$ne": None}},
        {"fw_id": 1, "launch_dir": 1},
    )
    withdrawn = []
    for launch in queued:
        try:
            if withdraw(launch["launch_dir"], reason):
                withdrawn.append(launch["fw_id"])
        except (OSError, ValueError) as exc:  # directory gone or unreadable: leave it
            logger.warning("launch dir %s not withdrawn: %s", launch["launch_dir"], exc)
    return sorted(withdrawn)


def open_allocations_of(lp: LaunchPad, fw_ids: list[int]) -> tuple[list[dict], int]:
    """Active allocations whose open launches all belong to ``fw_ids``; and how many others.

    Returns the allocations running only these Fireworks' launches, and the number of
    active allocations that run some of them alongside other launches (left alone).
    """
    mine = set(fw_ids)
    only, shared = [], 0
    for alloc in records.active_allocations(lp):
        held = {
            d["fw_id"]
            for d in records.launches(lp).find(
                {"alloc_id": alloc["alloc_id"], "done": False}, {"fw_id": 1}
            )
        }
        if held and held <= mine:
            only.append(alloc)
        elif held & mine:
            shared += 1
    return only, shared
