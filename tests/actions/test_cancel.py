"""``cancel`` without SLURM: the unstarted is defused, nothing requeued, resume undoes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.actions import CancelRequest, ResumeRequest, campaign_states, send
from htflow.agent.ingestion import ingest_launch
from htflow.agent.packing import resources_of
from htflow.agent.requeue import RequeuePolicy, decide
from htflow.db import records
from htflow.launch.worker import launch_state
from htflow.submit import submit_flow
from tests.actions.conftest import in_campaign, states
from tests.actions.helpers import PROFILE, claim, cycle, hand_to_allocation
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore


def test_cancel_defuses_withdraws_and_never_requeues(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    queued_job, other_job = add(1, 1), add(9, 9)
    # Two launches handed to one allocation: one of campaign x, one of campaign y.
    ids = submit_flow(in_campaign("x", queued_job), launchpad).fw_ids
    ids.update(submit_flow(in_campaign("y", other_job), launchpad).fw_ids)
    shared = claim(launchpad, jobstore, tmp_path)
    hand_to_allocation(launchpad, shared, job_id=None)
    # Then: one claimed launch not handed to an allocation, and a parent with its child.
    waiting_job = add(2, 2)
    ids.update(submit_flow(in_campaign("x", waiting_job), launchpad).fw_ids)
    [waiting] = claim(launchpad, jobstore, tmp_path)
    parent = add(3, 3)
    child = add(parent.output, 1)
    ids.update(submit_flow(in_campaign("x", parent, child), launchpad).fw_ids)

    outcome = send(CancelRequest(campaign="x"), db_uri=db_uri)

    assert outcome.status == "applied", outcome.message
    jobs = {
        "queued_job": queued_job,
        "other_job": other_job,
        "waiting_job": waiting_job,
        "parent": parent,
        "child": child,
    }
    fw = {name: ids[j.uuid] for name, j in jobs.items()}
    assert states(launchpad, "x") == {
        fw["queued_job"]: "RESERVED",  # in an allocation: withdrawn in its directory
        fw["waiting_job"]: "DEFUSED",  # put back, then defused
        fw["parent"]: "DEFUSED",
        fw["child"]: "DEFUSED",
    }
    assert states(launchpad, "y") == {fw["other_job"]: "RESERVED"}  # not this campaign's
    assert "3 Fireworks defused, 1 queued launches withdrawn" in outcome.message
    record = records.launches(launchpad).find_one({"launch_id": waiting["launch_id"]})
    assert record["state"] == "WITHDRAWN"
    # The queued launch: fizzled in its directory, so no worker starts it; ingested FIZZLED.
    [queued] = [s for s in shared if s["fw_id"] == fw["queued_job"]]
    assert launch_state(queued["launch_dir"]) == "FIZZLED"
    assert ingest_launch(launchpad, jobstore, queued)
    fizzled = launchpad.get_fw_by_id(fw["queued_job"])
    assert fizzled.state == "FIZZLED"
    message = fizzled.launches[-1].action.stored_data["_message"]
    assert "campaign x cancelled by" in message
    # A cancelled campaign's launch whose allocation ends is fizzled, not requeued.
    [other] = [s for s in shared if s["fw_id"] == fw["other_job"]]
    marked = {**other, "cancelled": "campaign x cancelled by someone"}
    resources = resources_of(PROFILE, other)
    assert decide(marked, "1", "CANCELLED", resources, RequeuePolicy()).action == "fizzle"
    assert decide(other, "1", "CANCELLED", resources, RequeuePolicy()).action == "retry"
    # Nothing of x is claimed any more.
    assert claim(launchpad, jobstore, tmp_path) == []
    assert campaign_states(db_uri)["x"]["cancelled"] is True

    resumed = send(ResumeRequest(campaign="x"), db_uri=db_uri)

    assert resumed.status == "applied", resumed.message
    assert "3 defused by cancel reignited" in resumed.message
    assert cycle(launchpad, jobstore, tmp_path) == 2  # waiting_job and parent
    assert cycle(launchpad, jobstore, tmp_path) == 1  # child
    assert states(launchpad, "x")[fw["child"]] == "COMPLETED"
    assert states(launchpad, "x")[fw["queued_job"]] == "FIZZLED"  # rerun brings it back
