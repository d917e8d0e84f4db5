"""Relaxing a structure with a universal ML potential: Matbench Discovery's protocol.

FIRE on the positions and, through ASE's ``FrechetCellFilter``, the cell, until every
generalized force is at most ``fmax`` (0.05 eV/Å) or 500 steps have run. A relaxation that
blows up (a NaN energy or force, the volume tripling or shrinking to a third, the model
raising on a degenerate structure) returns ``converged=False`` with the reason in
``failure`` and the last sane structure, rather than raising: the screen then leaves the
candidate to DFT.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE
from ase.units import GPa
from jobflow import Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from htflow.exceptions import InputError
from htflow.ml.models import DEFAULT_MODEL, check_model, load_calculator, quiet_model

if TYPE_CHECKING:
    from ase import Atoms

# Beyond these volume ratios to the start the model has left the physical region.
MAX_VOLUME_RATIO = 3.0
MIN_VOLUME_RATIO = 1.0 / 3.0


class MLRelaxDoc(BaseModel):
    """The result of one ML-potential relaxation."""

    structure: Structure = Field(
        description="The relaxed structure (lattice in Å); after a failure, the last sane one "
        "(the input when none was)."
    )
    input_structure: Structure = Field(description="The structure the relaxation started from.")
    formula: str = Field(description="Reduced formula, e.g. 'NaCl'.")
    energy: float | None = Field(
        description="The model's total energy of ``structure`` (eV); None when the model gave "
        "no finite energy."
    )
    energy_per_atom: float | None = Field(
        description="energy / number of sites (eV/atom); None with ``energy``."
    )
    n_steps: int = Field(description="Optimizer steps taken (dimensionless count).")
    converged: bool = Field(
        description="True when every force is at most fmax (eV/Å) and the cell's generalized "
        "force (stress × volume / atoms, eV/Å) too, within max_steps, without a failure."
    )
    max_force: float | None = Field(
        description="Largest force on an atom in ``structure`` (eV/Å); None without forces."
    )
    max_stress: float | None = Field(
        None,
        description="Largest absolute stress component of ``structure`` (GPa); None without "
        "stress.",
    )
    failure: str | None = Field(
        None, description="Why the relaxation blew up (one line); None when it did not."
    )
    model: str = Field(description="ML model name: 'chgnet' or 'sevenn'.")
    model_version: str = Field(
        description="Package and weights, e.g. 'chgnet 0.4.2, CHGNet 0.3.0 weights'."
    )
    protocol: dict[str, Any] = Field(
        description="Relaxation protocol: optimizer ('FIRE'), cell_filter ('FrechetCellFilter' "
        "or None), fmax (eV/Å), max_steps (count), relax_cell (bool)."
    )
    elapsed_seconds: float = Field(
        description="Wall time of the relaxation, model loading excluded (s)."
    )


def relax_protocol(fmax: float, max_steps: int, relax_cell: bool) -> dict[str, Any]:
    """The protocol record of a relaxation; raises InputError for a bad fmax or max_steps."""
    if isinstance(fmax, bool) or not isinstance(fmax, int | float) or not fmax > 0:
        raise InputError(f"ML relax fmax must be a positive number in eV/Å, got {fmax!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise InputError(f"ML relax max_steps must be a whole number ≥ 0, got {max_steps!r}")
    return {
        "optimizer": "FIRE",
        "cell_filter": "FrechetCellFilter" if relax_cell else None,
        "fmax": float(fmax),
        "max_steps": max_steps,
        "relax_cell": relax_cell,
        "reference": "Matbench Discovery",
    }


@dataclass
class _Snapshot:
    """One sane step: the atoms (no calculator) and what the model said about them."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def _take_snapshot(atoms: Atoms, start_volume: float, step: int) -> _Snapshot | str:
    """The current step as a snapshot, or why it is not sane (one line)."""
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces())
    if not math.isfinite(energy) or not np.all(np.isfinite(forces)):
        return f"the model gave a non-finite energy or force at step {step}"
    ratio = atoms.get_volume() / start_volume
    if not MIN_VOLUME_RATIO <= ratio <= MAX_VOLUME_RATIO:
        return (
            f"the volume went to {ratio:.2f}× the start at step {step} "
            f"(allowed {MIN_VOLUME_RATIO:.2f}–{MAX_VOLUME_RATIO:.0f}×)"
        )
    stress = None
    if "stress" in atoms.calc.implemented_properties:
        stress = np.asarray(atoms.get_stress(voigt=True))
    return _Snapshot(atoms.copy(), energy, forces, stress)


def ml_relax(
    structure: Structure,
    model: str = DEFAULT_MODEL,
    fmax: float = 0.05,
    max_steps: int = 500,
    relax_cell: bool = True,
) -> MLRelaxDoc:
    """Relax ``structure`` with the ML model: FIRE (+ FrechetCellFilter), fmax in eV/Å.

    Never raises for a relaxation that blows up: see :class:`MLRelaxDoc` ``failure``.
    """
    check_model(model)
    protocol = relax_protocol(fmax, max_steps, relax_cell)
    calculator, version = load_calculator(model)
    from threadpoolctl import threadpool_limits  # with the ml extra, like the models

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    start_volume = atoms.get_volume()
    optimizer = FIRE(FrechetCellFilter(atoms) if relax_cell else atoms, logfile=None)
    last: _Snapshot | None = None
    failure: str | None = None
    converged = False
    started = time.perf_counter()
    # The filter's 3×3 matrix functions run 10× slower with BLAS threads competing with
    # torch's on a shared node; one BLAS thread is always enough for them.
    with quiet_model(), threadpool_limits(limits=1, user_api="blas"):
        try:
            for step_converged in optimizer.irun(fmax=fmax, steps=max_steps):
                taken = _take_snapshot(atoms, start_volume, optimizer.nsteps)
                if isinstance(taken, str):
                    failure = taken
                    break
                last, converged = taken, step_converged
        # What the models raise on a structure they cannot handle (no neighbours, NaN
        # positions after a bad step); anything else is a bug and should surface.
        except (RuntimeError, ValueError, FloatingPointError, IndexError) as exc:
            failure = f"the model failed at step {optimizer.nsteps}: {_one_line(exc)}"
    elapsed = time.perf_counter() - started
    return _relax_doc(
        structure,
        last,
        failure,
        converged=converged,
        n_steps=optimizer.nsteps,
        model=model,
        version=version,
        protocol=protocol,
        elapsed=elapsed,
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _relax_doc(
    structure: Structure,
    last: _Snapshot | None,
    failure: str | None,
    *,
    converged: bool,
    n_steps: int,
    model: str,
    version: str,
    protocol: dict[str, Any],
    elapsed: float,
) -> MLRelaxDoc:
    relaxed = structure.copy() if last is None else AseAtomsAdaptor.get_structure(last.atoms)
    energy = None if last is None else last.energy
    stress = None if last is None or last.stress is None else last.stress
    return MLRelaxDoc(
        structure=relaxed,
        input_structure=structure,
        formula=structure.composition.reduced_formula,
        energy=energy,
        energy_per_atom=None if energy is None else energy / len(structure),
        n_steps=n_steps,
        converged=converged and failure is None,
        max_force=None if last is None else float(np.linalg.norm(last.forces, axis=1).max()),
        max_stress=None if stress is None else float(np.abs(stress).max() / GPa),
        failure=failure,
        model=model,
        model_version=version,
        protocol=protocol,
        elapsed_seconds=elapsed,
    )


@dataclass
class MLRelaxMaker(Maker):
    """Relax a structure with a universal ML potential (Matbench Discovery's protocol).

    Parameters
    ----------
    name
        Job name.
    model
        'chgnet' (CHGNet 0.3.0) or 'sevenn' (SevenNet-0).
    fmax
        Force criterion on atoms and cell (eV/Å).
    max_steps
        At most this many FIRE steps.
    relax_cell
        Relax the cell too (FrechetCellFilter), not only the positions.
    """

    name: str = "ml relax"
    model: str = DEFAULT_MODEL
    fmax: float = 0.05
    max_steps: int = 500
    relax_cell: bool = True

    def __post_init__(self) -> None:
        check_model(self.model)
        relax_protocol(self.fmax, self.max_steps, self.relax_cell)

    @job(output_schema=MLRelaxDoc)
    def make(self, structure: Structure) -> MLRelaxDoc:
        """Relax ``structure``; the job's output is an :class:`MLRelaxDoc`."""
        return ml_relax(
            structure,
            model=self.model,
            fmax=self.fmax,
            max_steps=self.max_steps,
            relax_cell=self.relax_cell,
        )
