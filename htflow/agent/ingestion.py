"""The ingestion step of a pass: finished launches go into the stores, ended ones are requeued.

A launch whose run finished (COMPLETED in ``FW_offline.json``, or FIZZLED with the worker's
outcome recorded after it) is ingested (:func:`htflow.agent.offline.ingest`, idempotent, so
a kill -9 at any point only means ingesting it again). An unfinished launch of an allocation
that ended is requeued or fizzled by the requeue policy (:mod:`htflow.agent.requeue`). A
launch that started running is recorded RUNNING once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.agent import records
from htflow.agent.offline import IngestError, ingest
from htflow.agent.packing import resources_of
from htflow.agent.requeue import apply, decide
from htflow.agent.watch import LOST
from htflow.launch.worker import (
    OFFLINE_FILE,
    launch_state,
    outcome_recorded,
    write_json_atomic,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.agent.requeue import RequeuePolicy
    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")


@dataclass
class IngestCounts:
    """What one ingestion step did (counts of launches)."""

    ingested: int = 0
    requeued: int = 0
    fizzled: int = 0


def ingest_and_requeue(
    lp: LaunchPad,
    jobstore: JobStore,
    profile: ClusterProfile,
    policy: RequeuePolicy,
    stopping: Callable[[], bool],
) -> IngestCounts:
    """Ingest every finished open launch; requeue or fizzle those of ended allocations.

    Parameters
    ----------
    stopping
        Asked before each launch: when true, the step returns what it did so far.
    """
    counts = IngestCounts()
    allocs = {
        a["alloc_id"]: a
        for a in records.allocations(lp).find(
            {"alloc_id": {"$in": [d["alloc_id"] for d in records.open_launches(lp)]}},
            {"_id": 0},
        )
    }
    for launch in records.open_launches(lp):
        if stopping():
            return counts
        state = _safe_state(launch["launch_dir"])
        if state == "COMPLETED" or (state == "FIZZLED" and outcome_recorded(launch["launch_dir"])):
            if ingest_launch(lp, jobstore, launch):
                counts.ingested += 1
            continue
        # A FIZZLED run whose worker has not recorded the outcome is not a result yet: the
        # worker is still deciding (a walltime stop, a dying allocation) or was killed while
        # it did. It waits like an unfinished launch and is requeued if its allocation ended.
        alloc = allocs.get(launch["alloc_id"])
        if alloc is None or alloc["state"] != "ended":
            if state == "RUNNING" and not launch.get("running_recorded"):
                _record_running(lp, jobstore, launch)
            continue
        decision = decide(
            launch,
            alloc.get("job_id"),
            alloc.get("slurm_state", LOST),
            resources_of(profile, launch),
            policy,
        )
        logger.info(
            "launch %s (fw %s): %s: %s",
            launch["launch_id"],
            launch["fw_id"],
            decision.action,
            decision.reason,
        )
        if state is None:  # FW_offline.json unreadable: the worker died writing it
            write_json_atomic(
                Path(launch["launch_dir"]) / OFFLINE_FILE,
                {"launch_id": launch["launch_id"]},
            )
        apply(lp, launch, decision)
        if decision.action == "fizzle":
            counts.fizzled += 1
            ingest_launch(lp, jobstore, launch)
        else:
            counts.requeued += 1
    return counts


def ingest_launch(lp: LaunchPad, jobstore: JobStore, launch: dict[str, Any]) -> bool:
    """Ingest one launch and mark its record done; False if it could not be ingested."""
    logger.info(
        "ingesting launch %s (fw %s) from %s",
        launch["launch_id"],
        launch["fw_id"],
        launch["launch_dir"],
    )
    try:
        result = ingest(lp, jobstore, launch["launch_dir"])
    except IngestError as exc:
        logger.error("launch %s not ingested: %s", launch["launch_id"], exc)
        return False
    records.launches(lp).update_one(
        {"launch_id": launch["launch_id"]},
        {"$set": {"done": True, "state": result.state, "ingested": time.time()}},
    )
    logger.info("launch %s (fw %s) %s", launch["launch_id"], launch["fw_id"], result.state)
    return True


def _record_running(lp: LaunchPad, jobstore: JobStore, launch: dict[str, Any]) -> None:
    with contextlib.suppress(IngestError):
        ingest(lp, jobstore, launch["launch_dir"])  # records RUNNING
    records.launches(lp).update_one(
        {"launch_id": launch["launch_id"]}, {"$set": {"running_recorded": True}}
    )


def _safe_state(launch_dir: str) -> str | None:
    try:
        return launch_state(launch_dir)
    except (OSError, ValueError):
        return None
