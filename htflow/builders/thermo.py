"""Formation energies and energies above the hull, within one calculation identity."""

from __future__ import annotations

from typing import Any

from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

STABLE_TOL = 1e-8  # eV/atom


def elemental_references(materials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The lowest energy-per-atom one-element material of each element (ties: material_id)."""
    refs: dict[str, dict[str, Any]] = {}
    for m in sorted(materials, key=lambda m: (m["energy_per_atom"], m["material_id"])):
        if len(m["elements"]) == 1:
            refs.setdefault(m["elements"][0], m)
    return refs


def thermo_fields(
    materials: list[dict[str, Any]], affected: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Formation energy, hull distance, stability and references of each material.

    Parameters
    ----------
    materials
        Every material of one (code, protocol, pseudo family): dicts with ``material_id``,
        ``formula``, ``elements`` and ``energy_per_atom`` (eV/atom).
    affected
        Only compute these material_ids (default: all).

    Returns
    -------
    dict
        material_id → {formation_energy_per_atom, energy_above_hull, is_stable, reference_ids};
        the first three are None when an element has no reference.
    """
    refs = elemental_references(materials)
    entries = {
        m["material_id"]: ComputedEntry(
            Composition(m["formula"]),
            m["energy_per_atom"] * Composition(m["formula"]).num_atoms,
            entry_id=m["material_id"],
        )
        for m in materials
    }
    diagrams: dict[str, PhaseDiagram] = {}
    out: dict[str, dict[str, Any]] = {}
    for m in materials:
        mid = m["material_id"]
        if affected is not None and mid not in affected:
            continue
        elements = sorted(m["elements"])
        if any(el not in refs for el in elements):
            out[mid] = {
                "formation_energy_per_atom": None,
                "energy_above_hull": None,
                "is_stable": None,
                "reference_ids": {el: refs[el]["material_id"] for el in elements if el in refs},
            }
            continue
        comp = Composition(m["formula"])
        formation = m["energy_per_atom"] - sum(
            comp.get_atomic_fraction(el) * refs[el]["energy_per_atom"] for el in elements
        )
        chemsys = "-".join(elements)
        if chemsys not in diagrams:
            subset = [
                entries[o["material_id"]] for o in materials if set(o["elements"]) <= set(elements)
            ]
            diagrams[chemsys] = PhaseDiagram(subset)
        e_hull = diagrams[chemsys].get_e_above_hull(entries[mid], allow_negative=True)
        assert e_hull is not None
        e_hull = float(e_hull)
        out[mid] = {
            "formation_energy_per_atom": float(formation),
            "energy_above_hull": e_hull,
            "is_stable": e_hull <= STABLE_TOL,
            "reference_ids": {el: refs[el]["material_id"] for el in elements},
        }
    return out
