"""Equation of state: fixed-volume runs and the Birch–Murnaghan fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobflow import Flow, Response, job
from pydantic import BaseModel, Field
from pymatgen.analysis.eos import BirchMurnaghan

from htflow.exceptions import CalculationFailedError

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.jobs import BasePwMaker

EV_PER_A3_TO_GPA = 160.21766208


class EosPoint(BaseModel):
    """One E(V) point."""

    volume_per_atom: float = Field(description="Volume per atom (Å³/atom).")
    energy_per_atom: float = Field(description="Total energy per atom (eV/atom).")


class EosDoc(BaseModel):
    """A Birch–Murnaghan fit of E(V)."""

    formula: str = Field(description="Reduced formula of the structure.")
    nsites: int = Field(description="Atoms in the simulated cell.")
    v0: float = Field(description="Equilibrium volume V0 (Å³/atom).")
    b0: float = Field(description="Bulk modulus B0 (GPa).")
    b1: float = Field(description="Pressure derivative of the bulk modulus B1 (dimensionless).")
    e0: float = Field(description="Energy at V0 (eV/atom).")
    points: list[EosPoint] = Field(description="The E(V) points fitted, by increasing volume.")
    dir_names: list[str] = Field(default_factory=list, description="Run directories of the points.")


def scale_to_volume_fraction(structure: Structure, scale: float) -> Structure:
    """A copy of ``structure`` with its volume multiplied by ``scale`` (isotropically)."""
    scaled = structure.copy()
    scaled.scale_lattice(structure.volume * scale)
    return scaled


@job
def run_volume_points(
    structure: Structure,
    volume_scales: list[float],
    static_maker: BasePwMaker,
    is_metal: bool | None = None,
) -> Response:
    """Replace this job by one fixed-volume run per scale; outputs their energies and volumes.

    Every volume uses the k-point mesh of the unscaled cell, so E(V) is smooth. ``is_metal``
    (from the relaxation) picks a metal's or an insulator's needs when the maker serves a
    property.
    """
    from htflow.qe.jobs import serving, with_mesh_of

    prop = static_maker.input_set_generator.for_property
    if prop is not None:
        static_maker = serving(static_maker, prop, is_metal)
    static_maker = with_mesh_of(static_maker, structure)
    jobs = []
    outputs: list[dict[str, Any]] = []
    for i, scale in enumerate(volume_scales):
        point = static_maker.make(scale_to_volume_fraction(structure, scale))
        point.append_name(f" {i + 1}/{len(volume_scales)}")
        jobs.append(point)
        outputs.append(
            {
                "energy": point.output.output.energy,
                "volume": point.output.structure.volume,
                "nsites": len(structure),
                "formula": structure.composition.reduced_formula,
                "dir_name": point.output.dir_name,
            }
        )
    return Response(replace=Flow(jobs, output=outputs))


def fit_birch_murnaghan(
    volumes: list[float], energies: list[float]
) -> tuple[float, float, float, float]:
    """Fit E(V) per atom; returns (V0 Å³/atom, B0 GPa, B1, E0 eV/atom)."""
    if len(volumes) < 4:
        raise CalculationFailedError(f"an EOS fit needs at least 4 points, got {len(volumes)}")
    eos = BirchMurnaghan(list(volumes), list(energies))
    eos.fit()
    return float(eos.v0), float(eos.b0 * EV_PER_A3_TO_GPA), float(eos.b1), float(eos.e0)


@job(name="fit eos")
def fit_eos(points: list[dict[str, Any]], name: str = "eos") -> EosDoc:
    """Fit the fixed-volume energies to Birch–Murnaghan (per atom)."""
    done = [p for p in points if p.get("energy") is not None]
    nsites = int(done[0]["nsites"]) if done else 0
    pairs = sorted((p["volume"] / p["nsites"], p["energy"] / p["nsites"]) for p in done)
    volumes = [v for v, _ in pairs]
    energies = [e for _, e in pairs]
    v0, b0, b1, e0 = fit_birch_murnaghan(volumes, energies)
    return EosDoc(
        formula=str(done[0]["formula"]),
        nsites=nsites,
        v0=v0,
        b0=b0,
        b1=b1,
        e0=e0,
        points=[EosPoint(volume_per_atom=v, energy_per_atom=e) for v, e in pairs],
        dir_names=[str(p["dir_name"]) for p in done],
    )
