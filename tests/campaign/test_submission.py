"""All-or-nothing submission, dedupe on resubmission, and the agent-inbox handoff."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from pymatgen.io.cif import CifWriter

from htflow.campaign.plan import plan_campaign
from htflow.db import writer_lock
from htflow.exceptions import InputError
from htflow.submit.campaign import resources_of, submit_campaign
from tests.campaign.conftest import silicon

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad

SOURCES = {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Al", "Cu"]}}]}


def test_submit_then_resubmit_finds_duplicates(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str
) -> None:
    path = write_campaign(sources=SOURCES, priority=5)
    plan = plan_campaign(path, launchpad=launchpad)
    assert [p.workflow for p in plan.flows] == ["relax_static_dos"] * 2
    result = submit_campaign(plan, db_uri=db_uri)
    assert result.mode == "submitted" and len(result.fw_ids) == 6
    fw = launchpad.fireworks.find_one({"fw_id": result.fw_ids[0]})
    assert fw["spec"]["htflow_campaign"] == "test"
    assert fw["spec"]["_priority"] == 5
    assert fw["spec"]["htflow_identity"]["protocol"] == "fast"

    again = plan_campaign(path, launchpad=launchpad)
    assert again.flows == [] and len(again.database_duplicates) == 2
    assert again.counts()["flows already in database"] == 2


def test_one_bad_cif_submits_nothing(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, tmp_path: Path
) -> None:
    structures = tmp_path / "campaign" / "structures"
    structures.mkdir(parents=True)
    CifWriter(silicon()).write_file(structures / "a_good.cif")
    bad = silicon()
    bad.append("Si", [0.01, 0.0, 0.0])
    CifWriter(bad).write_file(structures / "b_bad.cif")
    path = write_campaign(sources={**SOURCES, "files": ["structures/*.cif"]})
    with pytest.raises(InputError, match=r"sources.files\[0\] structures/b_bad.cif: sites"):
        plan_campaign(path, launchpad=launchpad)
    assert launchpad.fireworks.count_documents({}) == 0


def test_failure_mid_submission_rolls_back(
    write_campaign: Callable[..., Path],
    launchpad: LaunchPad,
    db_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import htflow.submit

    plan = plan_campaign(write_campaign(sources=SOURCES), launchpad=launchpad)
    real = htflow.submit.submit_flow
    calls = []

    def failing_second(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(htflow.submit, "submit_flow", failing_second)
    with pytest.raises(OSError, match="disk full"):
        submit_campaign(plan, db_uri=db_uri)
    assert launchpad.fireworks.count_documents({}) == 0
    assert launchpad.workflows.count_documents({}) == 0


def test_running_agent_gets_the_flows_in_its_inbox(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    from htflow.agent.inbox import process_inbox

    plan = plan_campaign(write_campaign(sources=SOURCES), launchpad=launchpad)
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    with writer_lock(db_uri):  # stands for the running agent
        result = submit_campaign(plan, db_uri=db_uri, agent_dir=agent_dir)
        assert result.mode == "queued" and len(result.inbox_files) == 2
        assert launchpad.fireworks.count_documents({}) == 0
        # what the agent does at its next pass
        done = process_inbox(launchpad, agent_dir)
    assert [d["submitted"] for d in done] == [True, True]
    assert launchpad.fireworks.count_documents({"spec.htflow_campaign": "test"}) == 6
    # the agent submitted them with the campaign's routing, as a direct submission does
    resources = resources_of(plan)
    for fw in launchpad.fireworks.find({}, {"spec": 1}):
        job_type = fw["spec"]["htflow_job_type"]
        assert fw["spec"]["htflow_resources"] == resources[job_type]
        assert fw["spec"]["htflow_identity"]["protocol"] == "fast"
    assert json.loads(next((agent_dir / "inbox" / "done").glob("*.result.json")).read_text())


def test_agent_dir_missing_is_an_error(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    plan = plan_campaign(write_campaign(sources=SOURCES), launchpad=launchpad)
    with writer_lock(db_uri), pytest.raises(InputError, match="pass --agent-dir"):
        submit_campaign(plan, db_uri=db_uri, agent_dir=tmp_path / "nowhere")
