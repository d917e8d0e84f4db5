"""``pause``/``resume`` hold a campaign's claims back and let them go; ``priority`` orders them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.actions import (
    PauseRequest,
    PriorityRequest,
    ResumeRequest,
    campaign_states,
    send,
)
from htflow.agent.offline import ready_fw_ids
from htflow.agent.topup import more_work_expected
from htflow.db import records
from htflow.launch.spec import PRIORITY_KEY
from htflow.submit import submit_flow
from tests.actions.conftest import in_campaign, states
from tests.actions.helpers import claim, cycle, hand_to_allocation, run_and_ingest
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore


def test_pause_holds_new_launches_and_resume_lets_them_run(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    first = add(1, 1)
    second = add(first.output, 1)
    paused_ids = submit_flow(in_campaign("p", first, second), launchpad).fw_ids
    other = submit_flow(in_campaign("q", add(2, 2)), launchpad).fw_ids
    # p's first job goes to an allocation, then p is paused: it runs to its end.
    running = claim(launchpad, jobstore, tmp_path)
    assert len(running) == 2
    hand_to_allocation(launchpad, running, job_id=None)

    outcome = send(PauseRequest(campaign="p"), db_uri=db_uri)

    assert outcome.status == "applied" and outcome.fw_ids == [paused_ids[second.uuid]]
    assert campaign_states(db_uri)["p"]["paused"] is True
    run_and_ingest(launchpad, jobstore, tmp_path, running)
    # p's second job became READY after the pause: it is not claimed.
    assert states(launchpad, "p") == {
        paused_ids[first.uuid]: "COMPLETED",
        paused_ids[second.uuid]: "READY",
    }
    submit_flow(in_campaign("q", add(3, 3)), launchpad)
    assert cycle(launchpad, jobstore, tmp_path) == 1  # q's new one only
    assert states(launchpad, "p")[paused_ids[second.uuid]] == "READY"
    assert set(states(launchpad, "q").values()) == {"COMPLETED"}
    assert len(other) == 1

    resumed = send(ResumeRequest(campaign="p"), db_uri=db_uri)

    assert resumed.status == "applied" and resumed.fw_ids == [paused_ids[second.uuid]]
    assert cycle(launchpad, jobstore, tmp_path) == 1
    assert set(states(launchpad, "p").values()) == {"COMPLETED"}
    again = send(ResumeRequest(campaign="p"), db_uri=db_uri)
    assert again.status == "refused" and "neither paused nor cancelled" in again.message


def test_a_paused_campaign_is_not_work_an_allocation_waits_for(
    launchpad: LaunchPad, db_uri: str
) -> None:
    submit_flow(in_campaign("p", add(1, 1)), launchpad)
    assert more_work_expected(launchpad)
    send(PauseRequest(campaign="p"), db_uri=db_uri)
    assert not more_work_expected(launchpad)


def test_pause_puts_back_launches_not_yet_in_an_allocation(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    ids = submit_flow(in_campaign("p", add(1, 1)), launchpad).fw_ids
    [fw_id] = ids.values()
    [waiting] = claim(launchpad, jobstore, tmp_path)
    assert states(launchpad) == {fw_id: "RESERVED"}

    send(PauseRequest(campaign="p"), db_uri=db_uri)

    doc = launchpad.fireworks.find_one({"fw_id": fw_id})
    assert doc["state"] == "READY" and doc["archived_launches"] == [waiting["launch_id"]]
    record = records.launches(launchpad).find_one({"launch_id": waiting["launch_id"]})
    assert record["done"] and record["state"] == "WITHDRAWN"
    assert claim(launchpad, jobstore, tmp_path) == []
    send(ResumeRequest(campaign="p"), db_uri=db_uri)
    assert cycle(launchpad, jobstore, tmp_path) == 1
    assert states(launchpad) == {fw_id: "COMPLETED"}


def test_priority_orders_the_campaign_first_and_reaches_later_fireworks(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    low = submit_flow(in_campaign("low", add(1, 1)), launchpad).fw_ids
    first = add(2, 2)
    high = submit_flow(in_campaign("high", first, add(first.output, 1)), launchpad).fw_ids
    assert ready_fw_ids(launchpad, 1) == list(low.values())  # oldest first

    outcome = send(PriorityRequest(campaign="high", priority=10), db_uri=db_uri)

    assert outcome.status == "applied" and outcome.n_fireworks == 2
    for fw_id in high.values():
        assert launchpad.get_fw_by_id(fw_id).spec[PRIORITY_KEY] == 10
    assert ready_fw_ids(launchpad, 1) == [high[first.uuid]]
    assert campaign_states(db_uri)["high"]["priority"] == 10
    # A Firework the campaign gets later has its priority by the time it is claimed.
    later = submit_flow(in_campaign("high", add(5, 5)), launchpad).fw_ids
    [later_id] = later.values()
    assert PRIORITY_KEY not in launchpad.get_fw_by_id(later_id).spec
    claim(launchpad, jobstore, tmp_path)
    assert launchpad.get_fw_by_id(later_id).spec[PRIORITY_KEY] == 10
    assert send(PriorityRequest(campaign="nope", priority=1), db_uri=db_uri).status == "refused"
