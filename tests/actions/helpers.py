"""Running a campaign's Fireworks the agent's way, without SLURM: claim, run, ingest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.agent.dispatch import claim_ready
from htflow.agent.ingestion import ingest_launch
from htflow.cluster.profile import ClusterProfile
from htflow.db import records
from tests.agent.conftest import run_worker

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore

PROFILE = ClusterProfile(name="actions-test")


def claim(lp: LaunchPad, jobstore: JobStore, tmp_path: Path) -> list[dict[str, Any]]:
    """The agent's claim step; returns the launches waiting for an allocation."""
    claim_ready(lp, jobstore, PROFILE, tmp_path / "launches")
    return list(records.launches(lp).find({"done": False, "alloc_id": None}, {"_id": 0}))


def hand_to_allocation(lp: LaunchPad, launches: list[dict[str, Any]], job_id: str | None) -> int:
    """Record an active allocation holding ``launches`` (as if packed and submitted)."""
    alloc_id = records.next_alloc_id(lp)
    ids = [launch["launch_id"] for launch in launches]
    records.allocations(lp).insert_one(
        {
            "alloc_id": alloc_id,
            "job_id": job_id,
            "state": "queued" if job_id else "submitting",
            "launch_ids": ids,
        }
    )
    records.launches(lp).update_many({"launch_id": {"$in": ids}}, {"$set": {"alloc_id": alloc_id}})
    return alloc_id


def run_and_ingest(
    lp: LaunchPad, jobstore: JobStore, tmp_path: Path, launches: list[dict[str, Any]]
) -> None:
    """Run ``launches`` in a worker subprocess (no database), then ingest them."""
    if not launches:
        return
    run_worker(tmp_path, *(launch["launch_dir"] for launch in launches))
    for launch in launches:
        assert ingest_launch(lp, jobstore, launch)


def cycle(lp: LaunchPad, jobstore: JobStore, tmp_path: Path) -> int:
    """Claim everything claimable, run and ingest it; how many launches ran."""
    launches = claim(lp, jobstore, tmp_path)
    run_and_ingest(lp, jobstore, tmp_path, launches)
    return len(launches)
