"""``htflow status``, ``results`` and ``plot`` on an embedded database, without pw.x.

The materials here are synthetic (:mod:`htflow.db.synthetic`): these tests check the
commands' plumbing and error handling; tests/campaign/test_end_to_end.py runs real ones.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from htflow.cli.plot import plot
from htflow.cli.results import results
from htflow.cli.status import status
from htflow.db.collections import open_database
from htflow.db.materials import MATERIALS_COLLECTION
from htflow.db.synthetic import synthetic_material
from htflow.reports.status import failure_cause

if TYPE_CHECKING:
    from pathlib import Path

app = typer.Typer()
app.command("status")(status)
app.command("results")(results)
app.command("plot")(plot)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    return f"file://{tmp_path}/db"


CHECK = {"name": "scf_converged", "passed": True, "detail": "the SCF of the energy run converged"}
BORN = {
    "name": "born_stability",
    "passed": True,
    "value": 77.8,
    "limit": 0.0,
    "unit": "GPa",
    "detail": "smallest eigenvalue of the Voigt tensor 77.8 GPa: mechanically stable (Born)",
}
FAILED = {
    "name": "strain_linearity",
    "passed": False,
    "value": 30.3,
    "limit": 22.5,
    "unit": "GPa",
    "detail": "smaller-strain vs larger-strain fit: max |dC_ij| 30.3 GPa at C66 (limit 22.5)",
}


@pytest.fixture
def materials(db: str) -> list[str]:
    rng = random.Random(7)
    docs = [synthetic_material(i, rng) for i in range(3)]
    for doc, k in zip(docs, (120.0, 80.0, None), strict=True):
        doc["k_vrh"], doc["g_vrh"] = k, (k / 2 if k else None)
        doc["quality"] = {"energy": "checked"}
        doc["checks"] = {"energy": {"level": "checked", "reasons": [], "checks": [CHECK]}}
        if k == 80.0:  # the second tensor is suspect
            doc["quality"]["elastic"] = "suspect"
            doc["checks"]["elastic"] = {
                "level": "suspect",
                "reasons": [FAILED["detail"]],
                "checks": [FAILED, BORN],
                "settings": {"kpoints_mesh": "4×4×4", "kpoints_per_atom": 128},
            }
        elif k:
            doc["quality"]["elastic"] = "verified"
            doc["checks"]["elastic"] = {
                "level": "verified",
                "reasons": [],
                "checks": [BORN],
                "verified_by": "elastic with qe 'balanced' and SSSP: within 5 %",
            }
    with open_database(db) as (database, _):
        database[MATERIALS_COLLECTION].insert_many(docs)
    return sorted(d["material_id"] for d in docs)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_results_table_and_json(db: str, materials: list[str]) -> None:
    code, out, _ = invoke("results", "--db", db)
    assert code == 0
    assert "materials (3)" in out
    assert "K_VRH (GPa)" in out
    assert all(m in out for m in materials)
    code, out, _ = invoke("results", "--db", db, "--json")
    rows = json.loads(out)
    assert sorted(r["material_id"] for r in rows) == materials
    assert sorted((r["k_vrh"] for r in rows), key=lambda k: k or 0) == [None, 80.0, 120.0]


def test_results_show_quality_and_checks(db: str, materials: list[str]) -> None:
    code, out, _ = invoke("results", "--db", db)
    assert code == 0
    assert "q elastic" in out and "q E" in out
    assert out.count("SUSPECT") == 1 and "verified" in out
    assert "htflow results [CAMPAIGN | MATERIAL_ID] --checks" in out
    rows = json.loads(invoke("results", "--db", db, "--json")[1])
    by_k = {r["k_vrh"]: r for r in rows}
    assert by_k[80.0]["quality.elastic"] == "suspect"
    assert by_k[120.0]["quality.elastic"] == "verified"
    assert by_k[None]["quality.elastic"] is None
    assert all(r["quality.energy"] == "checked" for r in rows)

    suspect = by_k[80.0]["material_id"]
    code, out, err = invoke("results", suspect, "--checks", "--db", db)
    assert code == 0, err
    assert suspect in out
    assert "elastic: SUSPECT" in out
    assert "FAIL smaller-strain vs larger-strain fit: max |dC_ij| 30.3 GPa at C66" in out
    assert "ok   born_stability: smallest eigenvalue of the Voigt tensor 77.8 GPa" in out
    assert "kpoints_mesh=4×4×4" in out
    assert "energy: checked" in out
    assert by_k[120.0]["material_id"] not in out  # one material only
    (found,) = json.loads(invoke("results", suspect, "--checks", "--json", "--db", db)[1])
    assert found["quality"] == {"energy": "checked", "elastic": "suspect"}
    assert found["checks"]["elastic"]["checks"][0]["value"] == 30.3
    code, out, _ = invoke("results", "--checks", "--db", db)
    assert code == 0
    assert all(m in out for m in materials)
    assert "verified by: elastic with qe 'balanced'" in out


def test_results_of_an_unknown_material_is_one_line(db: str, materials: list[str]) -> None:
    for args in (["results", "htf-0000000000"], ["results", "htf-0000000000", "--checks"]):
        code, _, err = invoke(*args, "--db", db)
        assert code == 2
        assert "no material 'htf-0000000000'" in err
        assert len(err.strip().splitlines()) == 1


def test_results_of_an_unknown_campaign_is_empty(db: str, materials: list[str]) -> None:
    code, out, _ = invoke("results", "nope", "--db", db)
    assert code == 0
    assert "campaign nope (0)" in out


def test_status_of_an_empty_database(db: str) -> None:
    code, out, _ = invoke("status", "--db", db)
    assert code == 0, out
    assert "total" in out
    assert "core-hours used: 0.00 (0 SLURM allocations); left: n/a" in out
    code, out, _ = invoke("status", "demo", "--db", db, "--json")
    report = json.loads(out)
    assert report["states"] == {}
    assert report["core_hours_left"] is None


def test_plot_elastic_summary_writes_a_png(db: str, materials: list[str], tmp_path: Path) -> None:
    with open_database(db) as (database, _):
        doc = database[MATERIALS_COLLECTION].find_one({"k_vrh": 120.0}, {"material_id": 1})
    out_dir = tmp_path / "p"
    code, out, err = invoke(
        "plot", doc["material_id"], "--kind", "elastic", "--out", str(out_dir), "--db", db
    )
    assert code == 0, err
    png = out_dir / f"{doc['material_id']}_elastic.png"
    assert str(png) in out.replace("\n", "")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["plot"], "give a MATERIAL_ID or --campaign"),
        (["plot", "htf-0", "--campaign", "x"], "give a MATERIAL_ID or --campaign"),
        (["plot", "htf-0", "--kind", "phonons"], "unknown plot kind 'phonons'"),
        (["plot", "htf-0000000000", "--kind", "dos"], "no material 'htf-0000000000'"),
        (["plot", "--campaign", "none"], "nothing to plot"),
    ],
)
def test_plot_bad_input_exits_2_in_one_line(
    db: str, materials: list[str], args: list[str], fragment: str
) -> None:
    code, _, err = invoke(*args, "--db", db)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_failure_cause_is_the_last_stacktrace_line() -> None:
    launch = {
        "action": {
            "stored_data": {
                "_exception": {
                    "_stacktrace": "Traceback ...\n  File x\nCalculationFailedError: pw.x failed"
                }
            }
        }
    }
    assert failure_cause(launch) == "CalculationFailedError: pw.x failed"
    pw_failed = (
        "Traceback ...\nhtflow.exceptions.CalculationFailedError: pw.x failed in /a/fw39: "
        "pw.x run failed (final_scf_mismatch): final scf exceeds thresholds"
    )
    launch["action"]["stored_data"]["_exception"]["_stacktrace"] = pw_failed
    assert failure_cause(launch) == "CalculationFailedError: final_scf_mismatch"
    assert failure_cause(None).startswith("unknown")
    requeue = {"action": {"stored_data": {"_message": "SLURM TIMEOUT 4 times\nmore"}}}
    assert failure_cause(requeue) == "SLURM TIMEOUT 4 times"
