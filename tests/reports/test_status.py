"""``htflow status`` core-hours: used from the agent's allocation records, left from the budget."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from htflow.agent import records
from htflow.cli.main import app
from htflow.cluster.profile import ClusterProfile
from htflow.db import get_launchpad
from htflow.launch.spec import CAMPAIGN_KEY
from htflow.reports.status import campaign_status
from htflow.submit import submit_flow
from tests.agent.jobs import add_flow

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    monkeypatch.delenv("HTFLOW_CLUSTER_PROFILE", raising=False)
    # no SLURM to ask: core-hours come from the recorded submit → end times
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.setenv("HTFLOW_SLURM_STATE", str(tmp_path / "no-slurm"))
    return f"file://{tmp_path}/db"


def run_allocation(
    lp: LaunchPad, campaign: str, alloc_id: int, cores: tuple[int, int, int], seconds: float
) -> None:
    """Submit a campaign's flow and record one ended allocation that ran its Fireworks."""
    flow = add_flow(alloc_id, 1, 1)
    flow.update_config({"manager_config": {CAMPAIGN_KEY: campaign}})
    fw_ids = sorted(submit_flow(flow, lp).fw_ids.values())
    launch_ids = []
    for fw_id in fw_ids:
        launch_id = 100 * alloc_id + fw_id
        records.add_launch(
            lp, launch_id=launch_id, fw_id=fw_id, launch_dir="/l", job_type="small", name="add"
        )
        launch_ids.append(launch_id)
    nodes, tasks, cpus = cores
    records.allocations(lp).insert_one(
        {
            "alloc_id": alloc_id,
            "job_id": str(9000 + alloc_id),
            "state": "ended",
            "slurm_state": "COMPLETED",
            "launch_ids": launch_ids,
            "resources": {"nodes": nodes, "tasks_per_node": tasks, "cpus_per_task": cpus},
            "submitted": 1000.0,
            "ended": 1000.0 + seconds,
        }
    )


@pytest.fixture
def ran(db: str) -> str:
    """Campaign ``budgeted``: 8 cores × 1.5 h + 2 cores × 0.5 h = 13 core-h; ``other``: 64."""
    lp = get_launchpad(db)
    run_allocation(lp, "budgeted", 1, (1, 4, 2), 5400.0)
    run_allocation(lp, "budgeted", 2, (1, 2, 1), 1800.0)
    run_allocation(lp, "other", 3, (2, 16, 1), 7200.0)
    return db


def test_left_is_budget_minus_used(ran: str) -> None:
    profile = ClusterProfile(name="site", core_hour_budget=100.0)
    report = campaign_status("budgeted", db_uri=ran, profile=profile, use_sacct=False)
    assert report.states == {"WAITING": 2, "READY": 2}
    assert report.allocations == 2
    assert report.core_hours_used == pytest.approx(13.0)
    assert report.core_hours_left == pytest.approx(100.0 - 13.0)
    # every campaign: 13 + 64 core-h; over budget shows as negative
    everything = campaign_status(None, db_uri=ran, profile=profile, use_sacct=False)
    assert everything.core_hours_used == pytest.approx(77.0)
    tight = ClusterProfile(name="site", core_hour_budget=50.0)
    assert campaign_status(None, db_uri=ran, profile=tight, use_sacct=False).core_hours_left == (
        pytest.approx(50.0 - 77.0)
    )


def test_no_budget_leaves_left_unset(ran: str) -> None:
    profile = ClusterProfile(name="site")
    report = campaign_status("budgeted", db_uri=ran, profile=profile, use_sacct=False)
    assert report.core_hours_used == pytest.approx(13.0)
    assert report.core_hours_left is None


def test_cli_prints_core_hours_left_from_the_profile(
    ran: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("name: site\nlocal_cluster: true\ncore_hour_budget: 20\n")
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["status", "budgeted", "--db", ran, "--profile", str(site)])
    assert result.exit_code == 0, result.output
    assert "core-hours used: 13.00 (2 SLURM allocations); left: 7.00" in result.stdout
    # without --profile: the cluster_profile setting's profile, as every command
    monkeypatch.setenv("HTFLOW_CLUSTER_PROFILE", str(site))
    result = runner.invoke(app, ["status", "budgeted", "--db", ran, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["core_hours_used"] == pytest.approx(13.0)
    assert report["core_hours_left"] == pytest.approx(7.0)
