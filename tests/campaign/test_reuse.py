"""Relaxations a campaign will not run again: the plan, the dry run, and the batch submission."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from htflow.campaign.plan import plan_campaign
from htflow.reports.status import campaign_status
from htflow.submit.campaign import submit_campaign
from tests.campaign.test_cli import run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad

SILICON = {"prototypes": [{"prototype": "diamond", "sites": {"A": ["Si"]}}]}
THREE = ["relax_static_dos", "eos", "elastic"]


def test_a_materials_later_flows_share_its_first_relaxation(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str
) -> None:
    path = write_campaign(sources=SILICON, workflow=THREE)
    plan = plan_campaign(path, launchpad=launchpad)
    assert [(r.flow, r.job_name, r.from_flow, r.fw_id) for r in plan.reuses] == [
        (1, "relax", 0, None),
        (2, "relax", 0, None),
    ]
    counts = plan.counts()
    assert counts["relaxations shared within campaign"] == 2
    assert counts["relaxations reused from database"] == 0
    jobs = sum(len(list(p.flow.iterflow())) for p in plan.flows)
    assert counts["jobs to submit"] == jobs - 2

    result = submit_campaign(plan, db_uri=db_uri)
    # one relaxation; the eos and elastic flows wait on it, in the relax_static_dos workflow
    (relax,) = launchpad.fireworks.find({"name": "relax"})
    assert relax["state"] == "READY"
    assert result.fw_ids == sorted(d["fw_id"] for d in launchpad.fireworks.find({}))
    assert len(result.fw_ids) == jobs - 2
    (workflow,) = launchpad.workflows.find({})
    assert len(workflow["links"][str(relax["fw_id"])]) == 3
    users = launchpad.fireworks.find({"spec.htflow_reused.fw_id": relax["fw_id"]})
    assert sorted(d["name"] for d in users) == ["elastic sampling", "run_volume_points"]
    # planned again, every flow is in the database, the two that reused the relax included
    again = plan_campaign(path, launchpad=launchpad)
    assert again.flows == [] and len(again.database_duplicates) == 3


def test_a_second_campaign_plans_on_the_first_ones_relaxation(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str
) -> None:
    first = plan_campaign(write_campaign(sources=SILICON), launchpad=launchpad)
    submit_campaign(first, db_uri=db_uri)
    (relax,) = launchpad.fireworks.find({"name": "relax"})
    path = write_campaign(name="second", sources=SILICON, workflow=["eos", "elastic"])
    plan = plan_campaign(path, launchpad=launchpad)
    assert [(r.flow, r.from_flow, r.fw_id, r.state) for r in plan.reuses] == [
        (0, None, relax["fw_id"], "READY"),
        (1, None, relax["fw_id"], "READY"),
    ]
    assert plan.counts()["relaxations reused from database"] == 2

    code, out, err = run(str(path), "--dry-run", "--db", db_uri)
    assert code == 0, err
    assert f"eos, elastic ← fw {relax['fw_id']} (ready)" in out
    assert "reuse: 2 starting relaxations will not run again (2 served by the database" in out

    submit_campaign(plan, db_uri=db_uri)
    assert launchpad.fireworks.count_documents({"name": "relax"}) == 1
    # each campaign's Fireworks keep their campaign, in one FireWorks workflow
    assert launchpad.workflows.count_documents({}) == 1
    second = launchpad.fireworks.find({"spec.htflow_campaign": "second"}, {"name": 1})
    assert "relax" not in {d["name"] for d in second}
    # the dashboard lists the shared workflow under both campaigns, with each one's Fireworks
    from htflow.dashboard.campaigns import campaign_view

    for name in ("test", "second"):
        view = campaign_view(db_uri, name)
        assert view is not None
        (row,) = view.workflows.items
        n_fws = launchpad.fireworks.count_documents({"spec.htflow_campaign": name})
        assert row["n"] == n_fws == sum(row["states"].values())
    # htflow status names what the campaign reused, and where it runs
    reused = campaign_status("second", db_uri=db_uri, use_sacct=False).reused
    assert [(e["fw_id"], e["campaign"], e["state"], e["name"]) for e in reused] == [
        (relax["fw_id"], "test", "READY", "relax")
    ] * 2


def test_without_the_database_check_nothing_is_reused(
    write_campaign: Callable[..., Path], launchpad: LaunchPad, db_uri: str
) -> None:
    dedupe = {"within_campaign": True, "against_database": False}
    path = write_campaign(sources=SILICON, workflow=THREE[:2], dedupe=dedupe)
    plan = plan_campaign(path, launchpad=launchpad)
    assert plan.reuses == []
    submit_campaign(plan, db_uri=db_uri)
    assert launchpad.fireworks.count_documents({"name": "relax"}) == 2


def test_a_failure_after_an_appended_flow_rolls_back_only_the_campaign(
    write_campaign: Callable[..., Path],
    launchpad: LaunchPad,
    db_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import htflow.submit

    submit_campaign(
        plan_campaign(write_campaign(sources=SILICON), launchpad=launchpad), db_uri=db_uri
    )
    before = {d["fw_id"] for d in launchpad.fireworks.find({})}
    workflow_before = launchpad.workflows.find_one({}, {"_id": 0, "updated_on": 0})
    path = write_campaign(name="second", sources=SILICON, workflow=["eos", "elastic"])
    plan = plan_campaign(path, launchpad=launchpad)
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
    # the eos flow had been appended to the first campaign's workflow: only it is gone
    assert {d["fw_id"] for d in launchpad.fireworks.find({})} == before
    workflow_after = launchpad.workflows.find_one({}, {"_id": 0, "updated_on": 0})
    assert workflow_after == workflow_before
