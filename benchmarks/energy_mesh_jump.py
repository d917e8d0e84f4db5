"""Energy jumps where the k mesh changes, per protocol: what formation energies inherit.

    .venv/bin/python benchmarks/energy_mesh_jump.py --systems diamond:Si fcc:Al \
        --protocols fast balanced --out /tmp/energy_jump.json

For each system (prototype:elements, built by htflow's prototype source) and protocol it
takes the static SCF that campaigns store energies from (``PwInputGenerator`` serving the
``energy`` property, as ``RelaxStaticDosMaker`` runs it, with the metal or insulator class
an SCF at the protocol's own mesh finds, as the relaxation tells the flow) and reports two
numbers:

- **boundary jump**: the lattice constant is scanned over ±3 % of the prototype's; where the
  mesh the generator picks changes, the energy is computed just below and just above
  (±0.0005 Å) and the jump per atom is reported (the smooth E(a) change over 0.001 Å is
  below 0.01 meV/atom). "none" when the mesh is the same over the whole range (meshes from
  a k-point density do not change under isotropic scaling);
- **next-mesh change**: the energy with the mesh used and with one more division along
  every axis: how much any mesh change (an anisotropic cell change, another structure of
  the same hull) moves the energy at this protocol.

Each result is appended to ``--out`` when done (a rerun skips what is there). Runs use one
MPI rank; the machine's load does not change energies, so no baseline run is needed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from htflow.campaign.sources.prototypes import prototype_structure
from htflow.qe.outputs import build_task_doc
from htflow.qe.run import run_pw
from htflow.qe.sets import PwInputGenerator
from htflow.qe.sets.sampling import format_mesh, kpoints_per_atom_of

SCAN = 0.03  # relative range of lattice constants searched for a mesh boundary
STEPS = 601
DELTA = 0.0005  # Å on either side of a boundary


def _structure(system: str, a: float | None = None) -> Any:
    prototype, _, elements = system.partition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prototype_structure(prototype, elements.split(","), a)


def _a0(system: str) -> float:
    structure = _structure(system)
    prototype = system.partition(":")[0]
    # the conventional a of the cubic prototypes, the hexagonal a otherwise
    if prototype in ("fcc", "diamond", "zincblende", "rocksalt"):
        return float(structure.lattice.a * 2**0.5)
    if prototype == "bcc":
        return float(structure.lattice.a * 2 / 3**0.5)
    return float(structure.lattice.a)


def _generator(
    protocol: str, family: str | None, mesh: Any = None, is_metal: bool | None = None
) -> PwInputGenerator:
    return PwInputGenerator(
        calculation="scf",
        protocol=protocol,
        pseudo_family=family,
        for_property="energy",
        kpoints_mesh=mesh,
        is_metal=is_metal,
    )


def _mesh(
    system: str, a: float, protocol: str, family: str | None, is_metal: bool | None
) -> tuple[int, int, int]:
    generator = _generator(protocol, family, None, is_metal)
    return generator.get_input(_structure(system, a)).kpoints.mesh


def _boundary(
    system: str, protocol: str, family: str | None, is_metal: bool | None
) -> float | None:
    a0 = _a0(system)
    grid = [a0 * (1 - SCAN + 2 * SCAN * i / (STEPS - 1)) for i in range(STEPS)]
    meshes = [_mesh(system, a, protocol, family, is_metal) for a in grid]
    # the boundary nearest a0
    pairs = [(i, i + 1) for i in range(STEPS - 1) if meshes[i] != meshes[i + 1]]
    if not pairs:
        return None
    low, high = min(pairs, key=lambda p: abs(grid[p[0]] - a0))
    lo, hi = grid[low], grid[high]
    while hi - lo > 1e-5:
        mid = (lo + hi) / 2
        if _mesh(system, mid, protocol, family, is_metal) == meshes[low]:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _energy(structure: Any, generator: PwInputGenerator, workdir: Path) -> dict[str, Any]:
    pw_input = generator.get_input(structure)
    workdir.mkdir(parents=True, exist_ok=True)
    pw_input.write(workdir)
    run_pw(workdir, n_ranks=1)
    out = build_task_doc(workdir).output
    return {
        "energy_per_atom": out.energy_per_atom,
        "is_metal": out.is_metal,
        "mesh": list(pw_input.kpoints.mesh),
        "kpoints_per_atom": kpoints_per_atom_of(structure, pw_input.kpoints.mesh),
        "cpu_seconds": out.cpu_time,
    }


def _class(structure: Any, protocol: str, family: str | None, root: Path) -> bool | None:
    """Metal or insulator from an SCF at the protocol's own mesh, as a relaxation tells a flow."""
    plain = PwInputGenerator(calculation="scf", protocol=protocol, pseudo_family=family)
    root.mkdir(parents=True, exist_ok=True)
    plain.get_input(structure).write(root)
    run_pw(root, n_ranks=1)
    return build_task_doc(root).output.is_metal


def measure(system: str, protocol: str, family: str | None, root: Path) -> dict[str, Any]:
    """Boundary jump and next-mesh change (meV/atom) of one system at one protocol."""
    result: dict[str, Any] = {"system": system, "protocol": protocol, "family": family}
    structure = _structure(system)
    is_metal = _class(structure, protocol, family, root / "class")
    result["is_metal"] = is_metal
    used = _energy(structure, _generator(protocol, family, None, is_metal), root / "used")
    mesh = used["mesh"]
    finer = _energy(
        structure,
        _generator(protocol, family, tuple(n + 1 for n in mesh), is_metal),
        root / "finer",
    )
    result["mesh"] = format_mesh(tuple(mesh))
    result["kpoints_per_atom"] = used["kpoints_per_atom"]
    result["next_mesh_change_mev"] = 1000 * abs(finer["energy_per_atom"] - used["energy_per_atom"])
    boundary = _boundary(system, protocol, family, is_metal)
    result["boundary_a"] = boundary
    if boundary is not None:
        generator = _generator(protocol, family, None, is_metal)
        below = _energy(_structure(system, boundary - DELTA), generator, root / "below")
        above = _energy(_structure(system, boundary + DELTA), generator, root / "above")
        result["boundary_meshes"] = [
            format_mesh(tuple(below["mesh"])),
            format_mesh(tuple(above["mesh"])),
        ]
        result["boundary_jump_mev"] = 1000 * abs(
            above["energy_per_atom"] - below["energy_per_atom"]
        )
    result["cpu_seconds"] = used["cpu_seconds"]
    return result


def _label(is_metal: bool | None) -> str:
    return "unknown" if is_metal is None else ("metal" if is_metal else "insulator")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["diamond:Si", "fcc:Al"])
    parser.add_argument("--protocols", nargs="+", default=["fast", "balanced"])
    parser.add_argument("--family", default=None)
    parser.add_argument("--out", type=Path, default=Path("energy_jump.json"))
    args = parser.parse_args()
    results: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.is_file() else []
    done = {(r["system"], r["protocol"], r["family"]) for r in results}
    for protocol in args.protocols:
        for system in args.systems:
            if (system, protocol, args.family) in done:
                continue
            with tempfile.TemporaryDirectory(prefix="htflow-jump-") as tmp:
                results.append(measure(system, protocol, args.family, Path(tmp)))
            args.out.write_text(json.dumps(results, indent=1))
    print(
        "| system | protocol | class | mesh | k-points/atom | next mesh (meV/atom) "
        "| boundary (Å) | jump (meV/atom) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        jump = r.get("boundary_jump_mev")
        where = (
            "none within ±3 %"
            if r["boundary_a"] is None
            else f"{r['boundary_a']:.4f} ({' → '.join(r['boundary_meshes'])})"
        )
        shown = "-" if jump is None else f"{jump:.2f}"
        print(
            f"| {r['system']} | {r['protocol']} | {_label(r.get('is_metal'))} | {r['mesh']} | "
            f"{r['kpoints_per_atom']} | "
            f"{r['next_mesh_change_mev']:.2f} | {where} | {shown} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
