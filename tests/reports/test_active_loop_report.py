"""The active loop's reports: the random-order expectation (against brute force), the curve,
``htflow status`` and ``htflow plot --kind loop`` on recorded rounds, and the dashboard."""

from __future__ import annotations

import itertools
import json
import statistics
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from htflow.cli.main import app
from htflow.db.active import (
    ActiveCampaignDoc,
    ChosenCandidate,
    Observation,
    Prediction,
    RoundDoc,
    active_rounds,
    record_loop,
)
from htflow.db.collections import open_database
from htflow.reports.active_loop import expected_best, loop_curve, loop_view

if TYPE_CHECKING:
    from pathlib import Path

NAME = "al"
SPEC = {
    "name": NAME,
    "workflow": ["relax_static_dos"],
    "strategy": "active",
    "active": {
        "objective": {"field": "band_gap", "goal": "target", "target": 1.0},
        "budget": {"calculations": 3},
    },
}


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path}/db"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)


@pytest.mark.parametrize("lower", [True, False])
def test_expected_best_matches_every_draw_enumerated(lower: bool) -> None:
    values: list[float | None] = [0.3, None, 1.7, 0.9, None, 2.5]
    for n in range(1, len(values) + 1):
        bests = []
        for draw in itertools.combinations(values, n):
            usable = [v for v in draw if v is not None]
            if usable:
                bests.append(min(usable) if lower else max(usable))
        assert expected_best(values, n, lower) == pytest.approx(statistics.fmean(bests))
    assert expected_best([None, None], 1, lower) is None
    assert expected_best([1.0], 2, lower) is None


def rounds_world(db: str, name: str = NAME) -> None:
    """Two rounds over a pool of four: c0001 failed, c0002 is the best (|1.1 − 1|)."""
    record = ActiveCampaignDoc(
        campaign=name,
        path="al.yaml",
        spec=SPEC,
        pool_job_uuid="u",
        pool_fw_id=1,
        pool_size=4,
        feature_names=["x"],
        objective="band_gap closest to 1 eV",
        unit="eV",
        state="stopped",
        stop_reason="budget spent: 3 of 3 calculations",
        started_at="2026-01-01T00:00:00+00:00",
    )

    def chosen(i: int, formula: str) -> ChosenCandidate:
        return ChosenCandidate(index=i, label=f"c000{i}", formula=formula, reason="r")

    def seen(i: int, value: float | None) -> Observation:
        if value is None:
            return Observation(index=i, label=f"c000{i}", outcome="failed", reason="relax FIZZLED")
        return Observation(
            index=i, label=f"c000{i}", outcome="completed", value=value, feasible=True
        )

    r0 = RoundDoc(
        campaign=name,
        round=0,
        state="done",
        chosen=[chosen(0, "Si"), chosen(1, "C")],
        seed=0,
        observations=[seen(0, 0.6), seen(1, None)],
        calculations_used=2,
        best_value=0.6,
        best_label="c0000",
        chosen_at="t",
    )
    predictions = [
        Prediction(index=2, label="c0002", mean=1.2, std=0.3, score=0.1),
        Prediction(index=3, label="c0003", mean=3.0, std=0.5, score=0.0),
    ]
    r1 = RoundDoc(
        campaign=name,
        round=1,
        state="done",
        chosen=[chosen(2, "Ge")],
        seed=0,
        predictions=predictions,
        observations=[seen(2, 1.1)],
        calculations_used=3,
        best_value=1.1,
        best_label="c0002",
        stop_reason="budget spent: 3 of 3 calculations",
        chosen_at="t",
    )
    with open_database(db) as (database, _):
        record_loop(database, record, [])
        for doc in (r0, r1):
            active_rounds(database).insert_one(doc.model_dump(mode="json"))


def test_the_curve_and_the_random_expectation_from_the_records(db_uri: str) -> None:
    rounds_world(db_uri)
    view = loop_view(NAME, db_uri)
    assert view is not None and (view.goal, view.target) == ("target", 1.0)
    curve = loop_curve(view)
    assert curve.calculations == [1, 2, 3]
    assert curve.best == pytest.approx([0.4, 0.4, 0.1])  # |0.6 − 1|, a failure, |1.1 − 1|
    assert curve.round_starts == [2]
    # the pool: 0.4 and 0.1 observed, c0001 failed (no value), c0003 from the model: |3 − 1|
    assert curve.random_basis == "observed+surrogate"
    assert curve.random_best[0] == pytest.approx((0.4 + 0.1 + 2.0) / 3)
    assert curve.random_best[-1] == pytest.approx(0.1)


def test_status_and_plot_show_the_loop(db_uri: str, tmp_path: Path) -> None:
    rounds_world(db_uri)
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["status", NAME, "--db", db_uri])
    assert result.exit_code == 0, result.output
    assert "active loop: band_gap closest to 1 eV, pool of 4" in result.stdout
    assert "c0000 Si, c0001 C" in result.stdout and "1.1 (c0002)" in result.stdout
    assert "active loop stopped: budget spent: 3 of 3 calculations" in result.stdout
    as_json = runner.invoke(app, ["status", NAME, "--db", db_uri, "--json"])
    loop: dict[str, Any] = json.loads(as_json.stdout)["active"]
    assert [r["round"] for r in loop["rounds"]] == [0, 1]
    out = tmp_path / "plots"
    plot = runner.invoke(
        app, ["plot", "--campaign", NAME, "--kind", "loop", "--out", str(out), "--db", db_uri]
    )
    assert plot.exit_code == 0, plot.output
    assert (out / f"{NAME}_loop.png").stat().st_size > 1000


def test_loop_plot_of_a_campaign_without_a_loop_is_one_line(db_uri: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["plot", "--campaign", "other", "--kind", "loop", "--out", str(tmp_path), "--db", db_uri],
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no active loop" in lines[0]
    one = CliRunner().invoke(app, ["plot", "htf-0123456789", "--kind", "loop", "--db", db_uri])
    assert one.exit_code == 2 and "--kind loop plots a whole campaign" in one.stderr
