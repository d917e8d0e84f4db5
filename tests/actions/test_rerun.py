"""``rerun``: FIZZLED Fireworks back to READY (by cause, regex or id), their history kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from htflow.actions import RerunRequest, audit_log, parse_request, send
from htflow.db import records
from htflow.exceptions import InputError
from htflow.submit import submit_flow
from tests.actions.conftest import in_campaign, states
from tests.actions.helpers import claim, cycle, run_and_ingest
from tests.actions.jobs import fail_until
from tests.agent.jobs import add, fail

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore

CAUSE = "ValueError: not ready yet"


def fizzled_campaign(lp: LaunchPad, jobstore: JobStore, tmp_path: Path) -> dict[str, int]:
    """Campaign ``c``: fail_until → add (child), and fail; both failing ones FIZZLED."""
    flaky = fail_until(str(tmp_path / "ready"))
    child = add(flaky.output, 1)
    broken = fail("out of luck")
    ids = submit_flow(in_campaign("c", flaky, child), lp).fw_ids
    ids.update(submit_flow(in_campaign("c", broken), lp).fw_ids)
    assert cycle(lp, jobstore, tmp_path) == 2
    fw = {"flaky": ids[flaky.uuid], "child": ids[child.uuid], "broken": ids[broken.uuid]}
    assert states(lp) == {fw["flaky"]: "FIZZLED", fw["child"]: "WAITING", fw["broken"]: "FIZZLED"}
    return fw


def test_rerun_by_cause_keeps_history_and_the_firework_completes(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    fw = fizzled_campaign(launchpad, jobstore, tmp_path)
    [old_launch] = launchpad.fireworks.find_one({"fw_id": fw["flaky"]})["launches"]
    (tmp_path / "ready").write_text("")

    outcome = send(RerunRequest(campaign="c", cause=CAUSE), db_uri=db_uri)

    assert (outcome.status, outcome.n_fireworks, outcome.fw_ids) == ("applied", 1, [fw["flaky"]])
    doc = launchpad.fireworks.find_one({"fw_id": fw["flaky"]})
    assert doc["state"] == "READY"
    assert doc["launches"] == []
    assert doc["archived_launches"] == [old_launch]  # the history is kept
    assert launchpad.launches.find_one({"launch_id": old_launch})["state"] == "FIZZLED"
    assert launchpad.fireworks.find_one({"fw_id": fw["broken"]})["state"] == "FIZZLED"
    # The agent runs it again, in a new launch, and its child after it.
    assert cycle(launchpad, jobstore, tmp_path) == 1
    assert cycle(launchpad, jobstore, tmp_path) == 1
    assert states(launchpad) == {
        fw["flaky"]: "COMPLETED",
        fw["child"]: "COMPLETED",
        fw["broken"]: "FIZZLED",
    }
    child_uuid = launchpad.get_fw_by_id(fw["child"]).spec["htflow_job_uuid"]
    assert jobstore.get_output(child_uuid) == 2.0  # fail_until's 1.0, plus 1
    [entry] = audit_log(db_uri)
    assert entry["kind"] == "rerun" and entry["status"] == "applied"
    assert entry["campaign"] == "c" and entry["params"]["cause"] == CAUSE
    assert entry["n_fireworks"] == 1 and entry["via"] == "direct"


def test_rerun_by_match_and_by_id(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    fw = fizzled_campaign(launchpad, jobstore, tmp_path)
    nothing = send(RerunRequest(campaign="c", match=r"no such text \d+"), db_uri=db_uri)
    assert (nothing.status, nothing.n_fireworks) == ("applied", 0)
    luck = send(RerunRequest(campaign="c", match=r"out of l[u]ck"), db_uri=db_uri)
    assert luck.fw_ids == [fw["broken"]]
    by_id = send(RerunRequest(fw_ids=[fw["flaky"]]), db_uri=db_uri)
    assert by_id.fw_ids == [fw["flaky"]]
    assert set(states(launchpad).values()) == {"READY", "WAITING"}


def test_refusals_are_one_line_and_audited(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    fw = fizzled_campaign(launchpad, jobstore, tmp_path)
    with pytest.raises(InputError, match="names nothing"):
        parse_request({"kind": "rerun", "reset_retries": True})
    unknown = send(RerunRequest(campaign="nope"), db_uri=db_uri)
    assert unknown.status == "refused" and "unknown campaign 'nope' (known: c)" in unknown.message
    cause = send(RerunRequest(campaign="c", cause="ValueError: typo"), db_uri=db_uri)
    assert cause.status == "refused" and CAUSE in cause.message  # the causes there are
    missing = send(RerunRequest(fw_ids=[999]), db_uri=db_uri)
    assert missing.status == "refused" and "no Firework 999" in missing.message
    send(RerunRequest(fw_ids=[fw["broken"]]), db_uri=db_uri)
    claim(launchpad, jobstore, tmp_path)  # RESERVED now: a launch is on its way
    busy = send(RerunRequest(fw_ids=[fw["broken"]]), db_uri=db_uri)
    assert busy.status == "refused" and "is RESERVED" in busy.message
    assert all("\n" not in o.message for o in (unknown, cause, missing, busy))
    statuses = [e["status"] for e in audit_log(db_uri)]
    assert statuses.count("refused") == 4


def test_retry_counters_carry_over_unless_reset(
    launchpad: LaunchPad, jobstore: JobStore, db_uri: str, tmp_path: Path
) -> None:
    first, second = fail("a"), fail("b")
    ids = submit_flow(in_campaign("c", first, second), launchpad).fw_ids
    assert cycle(launchpad, jobstore, tmp_path) == 2
    records.launches(launchpad).update_many(
        {}, {"$set": {"failures": 2, "continuations": 1, "walltime": 7200}}
    )
    send(RerunRequest(fw_ids=[ids[first.uuid]]), db_uri=db_uri)
    send(RerunRequest(fw_ids=[ids[second.uuid]], reset_retries=True), db_uri=db_uri)
    new = {d["fw_id"]: d for d in claim(launchpad, jobstore, tmp_path)}
    kept, reset = new[ids[first.uuid]], new[ids[second.uuid]]
    assert (kept["failures"], kept["continuations"], kept["walltime"]) == (2, 1, 7200)
    assert (reset["failures"], reset["continuations"], reset["walltime"]) == (0, 0, 7200)
    run_and_ingest(launchpad, jobstore, tmp_path, list(new.values()))
