"""DFT side of benchmarks/funnel.py: htflow's own jobs run locally, their cost, and the record.

Energies come from the jobs a campaign runs: a solid is vc-relaxed (``RelaxMaker``) and then
gets a static SCF serving the ``energy`` property (``StaticMaker`` through ``serving``, the
first two jobs of ``relax_static_dos``); a diatomic molecule in a box goes through the jobs
of ``htflow.campaign.references.reference_flow`` (fixed-cell relax and static at Γ, O₂
spin-polarised; closed-shell molecules with fixed occupations, see ``energy_record``).
Costs count every pw.x attempt in a run directory: a Custodian correction rotates the
earlier ``pw.out`` to ``pw.<n>.out``, and the task document only reads the last.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.campaign.references import TRIPLETS, reference_flow
from htflow.campaign.sources.elements import MOLECULE_BOX
from htflow.qe.jobs import RelaxMaker, StaticMaker, serving
from htflow.qe.schemas import PwTaskDoc
from htflow.qe.sets import PwInputGenerator
from htflow.qe.stdout_parser import parse_stdout

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jobflow import Flow
    from pymatgen.core import Structure


def _generator(calculation: Any, protocol: str, family: str) -> PwInputGenerator:
    return PwInputGenerator(calculation=calculation, protocol=protocol, pseudo_family=family)


def in_a_box(structure: Structure) -> bool:
    """A molecule or atom in a box (reference_structures' gases)."""
    return min(structure.lattice.abc) >= MOLECULE_BOX - 1e-6


def energy_flow(structure: Structure, protocol: str, family: str) -> Flow:
    """vc-relax → static serving ``energy`` (a solid), or reference_flow (a molecule in a box)."""
    from jobflow import Flow

    if in_a_box(structure):
        element = structure.composition.elements[0].symbol
        return reference_flow(structure, element, protocol, family)
    relax = RelaxMaker(input_set_generator=_generator("vc-relax", protocol, family)).make(structure)
    static = serving(StaticMaker(input_set_generator=_generator("scf", protocol, family)), "energy")
    job = static.make(relax.output.structure, is_metal=relax.output.output.is_metal)
    return Flow([relax, job], output=job.output, name="relax static")


def fixed_occupation_molecule_flow(structure: Structure, protocol: str, family: str) -> Flow:
    """reference_flow's jobs for a closed-shell molecule, with fixed occupations."""
    from jobflow import Flow

    fixed = {"system": {"occupations": "fixed", "smearing": None, "degauss": None}}

    def generator(calculation: Any) -> PwInputGenerator:
        return PwInputGenerator(
            calculation=calculation,
            protocol=protocol,
            pseudo_family=family,
            kpoints_mesh=(1, 1, 1),
            overrides=fixed,
        )

    relax = RelaxMaker(name="reference relax", input_set_generator=generator("relax"))
    relax_job = relax.make(structure)
    static = StaticMaker(name="static", input_set_generator=generator("scf"))
    static_job = static.make(relax_job.output.structure)
    return Flow([relax_job, static_job], output=static_job.output, name="molecule (fixed)")


def relax_flow(structure: Structure, protocol: str, family: str) -> Flow:
    """The campaign's vc-relax alone."""
    from jobflow import Flow

    relax = RelaxMaker(input_set_generator=_generator("vc-relax", protocol, family)).make(structure)
    return Flow([relax], output=relax.output, name="relax")


def run_flow(flow: Flow, root: Path) -> tuple[list[PwTaskDoc], float]:
    """Run ``flow`` in ``root`` with jobflow's run_locally; its task documents and wall time."""
    from jobflow import run_locally

    if root.exists():  # an interrupted run's directories: not recorded, not counted
        shutil.rmtree(root)
    root.mkdir(parents=True)
    cwd = os.getcwd()
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            responses = run_locally(flow, root_dir=root, create_folders=True, log=False)
    finally:
        os.chdir(cwd)  # run_locally leaves the process in the last job's directory
    elapsed = time.perf_counter() - started
    outputs = [by_index[max(by_index)].output for by_index in responses.values()]
    return [o for o in outputs if isinstance(o, PwTaskDoc)], elapsed


def attempt_costs(root: Path) -> dict[str, Any]:
    """CPU time × ranks and SCF ('!') counts over every pw.x attempt under ``root``."""
    core_seconds, ionic_steps, attempts = 0.0, 0, 0
    for out in sorted(root.glob("*/pw*.out")):
        data = parse_stdout(out.read_text(errors="replace"))
        attempts += 1
        ionic_steps += len(data.energies)
        core_seconds += (data.cpu_time or data.wall_time or 0.0) * (data.nprocs or 1)
    return {"core_seconds": core_seconds, "ionic_steps": ionic_steps, "pw_attempts": attempts}


def failure_reason(root: Path) -> str:
    """One line naming the first run directory under ``root`` that ended in an error."""
    from htflow.qe.error_messages import explain
    from htflow.qe.errors import detect_errors

    for directory in sorted(p.parent for p in root.glob("*/pw.out")):
        if detect_errors(directory):
            return f"{directory.name}: {explain(directory)}"
    return f"no task document came back; see the run directories under {root}"


def _doc(docs: list[PwTaskDoc], labels: tuple[str, ...]) -> PwTaskDoc | None:
    return next((d for d in docs if d.task_label in labels and d.state == "successful"), None)


def energy_record(structure: Structure, root: Path, protocol: str, family: str) -> dict[str, Any]:
    """Relax and static of one structure: energy per atom (eV/atom), costs, or the failure.

    A closed-shell molecule in a box (N₂, F₂, Cl₂, Br₂) runs reference_flow's jobs with fixed
    occupations: with the protocol's smearing, Cl₂'s SCF did not converge in 80 iterations
    twice, nor after 41 more with local-TF mixing (docs/funnel.md, "Measured"); with fixed
    occupations it converges in 17. O₂ (a triplet) keeps reference_flow as it is.
    """
    element = structure.composition.elements[0].symbol
    if in_a_box(structure) and element not in TRIPLETS:
        flow = fixed_occupation_molecule_flow(structure, protocol, family)
        return {**_energy_record(flow, structure, root), "occupations": "fixed"}
    return _energy_record(energy_flow(structure, protocol, family), structure, root)


def _energy_record(flow: Flow, structure: Structure, root: Path) -> dict[str, Any]:
    docs, elapsed = run_flow(flow, root)
    record: dict[str, Any] = {"elapsed_seconds": elapsed, **attempt_costs(root)}
    static = _doc(docs, ("static",))
    relax = _doc(docs, ("relax", "reference relax"))
    if static is None or static.output.energy_per_atom is None:
        return {**record, "status": "failed", "reason": failure_reason(root)}
    final = static.structure or structure
    return {
        **record,
        "status": "ok",
        "formula": final.composition.reduced_formula,
        "energy_per_atom": static.output.energy_per_atom,
        "is_metal": static.output.is_metal,
        "relax_ionic_steps": relax.output.n_ionic_steps if relax else None,
        "volume_per_atom": final.volume / len(final),
        "structure": final.as_dict(),
    }


def relax_record(structure: Structure, root: Path, protocol: str, family: str) -> dict[str, Any]:
    """One vc-relax: ionic steps and core-seconds over all attempts, where it ended."""
    docs, elapsed = run_flow(relax_flow(structure, protocol, family), root)
    record: dict[str, Any] = {"elapsed_seconds": elapsed, **attempt_costs(root)}
    relax = _doc(docs, ("relax",))
    if relax is None or relax.structure is None:
        return {**record, "status": "failed", "reason": failure_reason(root)}
    return {
        **record,
        "status": "ok",
        "energy_per_atom": relax.output.energy_per_atom,
        "volume_per_atom": relax.structure.volume / len(relax.structure),
        "n_kpoints": relax.output.n_kpoints,
        "last_attempt_ionic_steps": relax.output.n_ionic_steps,
        "corrections": [e for c in relax.custodian for e in c.get("errors", [])],
    }


class RecordFile:
    """The benchmark's JSON, shared by concurrent runs: each update re-reads under a lock."""

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def read(self) -> dict[str, Any]:
        """The whole record ({} before the first update)."""
        if not self.path.is_file():
            return {}
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get(self, *keys: str) -> Any:
        """The value under ``keys``, or None."""
        node: Any = self.read()
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def put(self, keys: tuple[str, ...], value: Any) -> None:
        """Set the value under ``keys`` (creating the path), written atomically."""
        with self._locked():
            data = self.read()
            node = data
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.path)
