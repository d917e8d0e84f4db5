"""How C11, C12 and C44 of a cubic crystal move with the k mesh and the smearing width.

    HTFLOW_HOME=/tmp/kscan_home .venv/bin/python benchmarks/elastic_kscan.py fcc:Al \
        --a 4.04 --family sssp --degauss 0.02 0.08 --meshes 12 16 20 24 28 32 36 40 \
        --out /tmp/elastic_kscan.json

The scans behind the ``elastic`` needs in ``htflow/qe/sets/properties.yaml``. For each
smearing width (cold smearing, Ry) and n × n × n Γ-centred mesh it runs three SCFs of the
prototype cell (htflow's prototype source, conventional lattice constant ``--a`` in Å) at
fixed volume with htflow's input generator (``balanced`` protocol, the family's cutoffs)
and pw.x through htflow's runner, one MPI rank:

- the unstrained cell, σ0;
- a normal strain ε1 = 1 % along x: C11 = Δσxx/ε1 and C12 = Δσyy/ε1;
- a shear strain of 2 % (engineering, ε4 = 2 ε23): C44 = Δσyz/ε4,

with Δσ = σ(strained) − σ0 (GPa), so a residual stress of the unstrained cell cancels.
Three cells instead of atomate2's strain set: the scan isolates the sampling, not the fit.
Each result is appended to ``--out`` when done; a rerun skips what is there. Prints a
Markdown table (one row per width and mesh) with the seconds of the three runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _families import resolve_family

from htflow.campaign.sources.prototypes import prototype_structure
from htflow.qe.outputs import build_task_doc
from htflow.qe.run import run_pw
from htflow.qe.sets import PwInputGenerator

NORMAL = 0.01
SHEAR = 0.02  # engineering shear strain ε4


def _stress(
    structure: Any, n: int, degauss: float, family: str | None, *, protocol: str, root: Path
) -> Any:
    generator = PwInputGenerator(
        calculation="scf",
        protocol=protocol,
        pseudo_family=family,
        kpoints_mesh=(n, n, n),
        overrides={
            "system": {"smearing": "cold", "degauss": degauss},
            "control": {"tstress": True},
            "electrons": {"conv_thr": 1e-10},
        },
    )
    root.mkdir(parents=True, exist_ok=True)
    generator.get_input(structure).write(root)
    run_pw(root, n_ranks=1)
    return np.asarray(build_task_doc(root).output.stress)


def measure(
    system: str, a: float, n: int, degauss: float, family: str | None, *, protocol: str = "balanced"
) -> dict[str, Any]:
    """C11, C12, C44 (GPa) of ``system`` at mesh n³ and cold smearing ``degauss`` (Ry), with
    the cutoffs (and SCF settings other than k and smearing) of ``protocol``."""
    prototype, _, elements = system.partition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = prototype_structure(prototype, elements.split(","), a)
    normal = np.eye(3)
    normal[0, 0] += NORMAL
    shear = np.eye(3)
    shear[1, 2] = shear[2, 1] = SHEAR / 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="htflow-kscan-") as tmp:
        stresses = []
        for label, deformation in (("zero", np.eye(3)), ("normal", normal), ("shear", shear)):
            cell = base.copy()
            cell.lattice = type(base.lattice)(base.lattice.matrix @ deformation.T)
            stresses.append(
                _stress(cell, n, degauss, family, protocol=protocol, root=Path(tmp) / label)
            )
    zero, stretched, sheared = stresses
    generator = PwInputGenerator(calculation="scf", protocol=protocol, pseudo_family=family)
    ecutwfc = float(generator.get_input(base).system["ecutwfc"])
    # htflow's stress is pw.x's sign (positive = compressive); elastic stress is its negative
    d_normal = -(stretched - zero)
    d_shear = -(sheared - zero)
    return {
        "system": system,
        "a": a,
        "family": family,
        "protocol": protocol,
        "ecutwfc": ecutwfc,
        "degauss": degauss,
        "n": n,
        "C11": float(d_normal[0, 0] / NORMAL),
        "C12": float(d_normal[1, 1] / NORMAL),
        "C44": float(d_shear[1, 2] / SHEAR),
        "residual_pressure_gpa": float(np.trace(zero) / 3),
        "seconds": time.perf_counter() - start,
    }


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    protocol = r.get("protocol", "balanced")  # results stored before the option
    return r["system"], r["a"], r["family"], protocol, r["degauss"], r["n"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", help="prototype:elements, e.g. fcc:Al or diamond:Si")
    parser.add_argument("--a", type=float, required=True, help="conventional a (Å)")
    parser.add_argument("--family", default=None, help="pseudo family; 'sssp': the shared set")
    parser.add_argument("--degauss", type=float, nargs="+", default=[0.02])
    parser.add_argument("--meshes", type=int, nargs="+", default=[8, 12, 16, 20, 24])
    parser.add_argument(
        "--protocols",
        nargs="+",
        default=["balanced"],
        help="protocols whose cutoffs (cutoff_scale × the family's) to scan",
    )
    parser.add_argument("--out", type=Path, default=Path("elastic_kscan.json"))
    args = parser.parse_args()
    family = resolve_family(args.family)
    results: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.is_file() else []
    for protocol in args.protocols:
        for degauss in args.degauss:
            for n in args.meshes:
                key = (args.system, args.a, family, protocol, degauss, n)
                if any(_key(r) == key for r in results):
                    continue
                results.append(measure(args.system, args.a, n, degauss, family, protocol=protocol))
                args.out.write_text(json.dumps(results, indent=1))
    print(
        "| system | protocol | ecutwfc (Ry) | degauss (Ry) | mesh | C11 | C12 | C44 (GPa) "
        "| P0 (GPa) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['system']} | {r.get('protocol', 'balanced')} | {r.get('ecutwfc', '')} | "
            f"{r['degauss']} | {r['n']}³ | {r['C11']:.1f} | {r['C12']:.1f} | {r['C44']:.1f} | "
            f"{r['residual_pressure_gpa']:.2f} | {r['seconds']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
