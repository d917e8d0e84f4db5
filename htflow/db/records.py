"""The agent's own bookkeeping, stored next to the LaunchPad: allocations and launches.

Two collections in the LaunchPad's database (so they live, and survive a crash, with the
Fireworks they describe; each write is one atomic document update):

``htflow_allocations``
    One document per SLURM allocation the agent submitted: ``alloc_id``, ``job_id`` (None
    between writing the record and ``sbatch`` answering), ``state`` (``submitting``,
    ``queued``, ``ended``), the final ``slurm_state``, ``launch_ids``, ``dir``, times.
``htflow_launches``
    One document per prepared launch: ``launch_id``, ``fw_id``, ``launch_dir``,
    ``job_type``, ``resources`` (per-Firework overrides), ``alloc_id`` (the allocation that
    runs it, None while it waits for one),
    ``failures`` and ``continuations`` (requeue counters), ``walltime`` (s, when a TIMEOUT
    raised it), ``done`` (ingested), ``history`` (one line per requeue); set by admin
    actions: ``cancelled`` (the reason: never requeued), ``rerun`` (who reran the
    Firework, and whether its counters were reset), ``state`` ``WITHDRAWN`` (put back
    before it reached an allocation).

A Firework rerun by ``htflow rerun`` gets a new launch; its record carries over the
requeue counters and the raised walltime of the Firework's previous launch, unless the
rerun reset them (``--reset-retries``: the counters start again at 0).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from pymongo.collection import Collection

ALLOCATIONS = "htflow_allocations"
LAUNCHES = "htflow_launches"
COUNTERS = "htflow_counters"
ACTIVE_ALLOCATION_STATES = ("submitting", "queued")


def allocations(lp: LaunchPad) -> Collection[dict[str, Any]]:
    """The allocations collection."""
    collection: Collection[dict[str, Any]] = lp.db[ALLOCATIONS]
    return collection


def launches(lp: LaunchPad) -> Collection[dict[str, Any]]:
    """The launches collection."""
    collection: Collection[dict[str, Any]] = lp.db[LAUNCHES]
    return collection


def next_alloc_id(lp: LaunchPad) -> int:
    """A new allocation id (a counter document, incremented atomically)."""
    doc = lp.db[COUNTERS].find_one_and_update(
        {"_id": "alloc_id"}, {"$inc": {"value": 1}}, upsert=True, return_document=True
    )
    return int(doc["value"])


def ensure_indexes(lp: LaunchPad) -> None:
    """Index what each pass queries (cheap to repeat).

    Besides the agent's own collections: FireWorks' ``offline_runs`` (``tuneup`` leaves it
    unindexed, and ingesting one launch looks it up by ``launch_id`` four times). On the
    embedded store an unindexed lookup decodes every document, so at 10,000 launches each
    ingestion cost four full scans (measured with py-spy: 55 % of the agent's time).
    """
    allocations(lp).create_index("alloc_id")
    allocations(lp).create_index("state")
    launches(lp).create_index("launch_id")
    launches(lp).create_index("done")
    launches(lp).create_index("alloc_id")
    launches(lp).create_index("fw_id")
    lp.offline_runs.create_index("launch_id")


def add_launch(
    lp: LaunchPad,
    *,
    launch_id: int,
    fw_id: int,
    launch_dir: str,
    job_type: str,
    name: str,
    resources: dict[str, Any] | None = None,
) -> None:
    """Record a prepared launch waiting for an allocation (idempotent on ``launch_id``)."""
    carried = carried_counters(lp, fw_id, launch_id)
    launches(lp).update_one(
        {"launch_id": launch_id},
        {
            "$setOnInsert": {
                "launch_id": launch_id,
                "fw_id": fw_id,
                "launch_dir": launch_dir,
                "job_type": job_type,
                "name": name,
                "resources": dict(resources or {}),
                "alloc_id": None,
                "failures": 0,
                "continuations": 0,
                "walltime": None,
                **carried,
                "done": False,
                "history": [],
                "created": time.time(),
            }
        },
        upsert=True,
    )


def carried_counters(lp: LaunchPad, fw_id: int, launch_id: int) -> dict[str, Any]:
    """What a new launch of ``fw_id`` inherits from the Firework's previous launch, if any.

    The raised walltime always; the requeue counters unless the rerun reset them.
    """
    previous = list(
        launches(lp)
        .find({"fw_id": fw_id, "launch_id": {"$ne": launch_id}}, {"_id": 0})
        .sort("launch_id", -1)
        .limit(1)
    )
    if not previous:
        return {}
    last = previous[0]
    carried: dict[str, Any] = {"walltime": last.get("walltime")}
    if not (last.get("rerun") or {}).get("reset_retries"):
        carried["failures"] = int(last.get("failures") or 0)
        carried["continuations"] = int(last.get("continuations") or 0)
    return carried


def open_launches(lp: LaunchPad) -> list[dict[str, Any]]:
    """Launches not ingested yet."""
    return list(launches(lp).find({"done": False}, {"_id": 0}))


def active_allocations(lp: LaunchPad) -> list[dict[str, Any]]:
    """Allocations submitting or in the queue."""
    query = {"state": {"$in": list(ACTIVE_ALLOCATION_STATES)}}
    return list(allocations(lp).find(query, {"_id": 0}))
