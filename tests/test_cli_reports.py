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


@pytest.fixture
def materials(db: str) -> list[str]:
    rng = random.Random(7)
    docs = [synthetic_material(i, rng) for i in range(3)]
    for doc, k in zip(docs, (120.0, 80.0, None), strict=True):
        doc["k_vrh"], doc["g_vrh"] = k, (k / 2 if k else None)
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
