"""The funnel's ML numbers on a material: its ``ml`` field, from the ``screening`` collection.

A material built from the DFT runs of a kept funnel candidate started from that candidate's
ML-relaxed structure, so the two match by ``StructureMatcher`` (volume rescaling allowed:
the DFT cell relaxes away from the ML one). When several campaigns screened the same
material, the latest decision wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from htflow.db.materials import MLNumbers
from htflow.db.screening import screening

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher


def ml_numbers(
    db: Any, material: dict[str, Any], matcher: StructureMatcher
) -> dict[str, Any] | None:
    """The ``ml`` field of ``material`` (a stored materials document), or None."""
    found = list(screening(db).find({"formula": material["formula_reduced"], "kept": True}))
    if not found:
        return None
    structure = material["structure"]
    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    for doc in sorted(found, key=lambda d: d.get("screened_at") or "", reverse=True):
        if matcher.fit(structure, Structure.from_dict(doc["structure"])):
            return MLNumbers(
                model=doc["model"],
                model_version=doc["model_version"],
                energy_per_atom=doc.get("energy_per_atom"),
                formation_energy_per_atom=doc.get("formation_energy_per_atom"),
                energy_above_hull=doc.get("energy_above_hull"),
                margin=doc.get("margin"),
                campaign=doc["campaign"],
                label=doc["label"],
            ).model_dump()
    return None


__all__ = ["ml_numbers"]
