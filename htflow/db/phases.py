"""Phases the database already holds in some chemical systems: the funnel's known phases.

A campaign funnel's ML hull is built from the same model's energies of the elemental
references, the candidates, and the phases the database already holds in the candidates'
chemical systems (each relaxed by the model too). This module finds those phases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from htflow.db.collections import open_database
from htflow.db.materials import MATERIALS_COLLECTION

if TYPE_CHECKING:
    from collections.abc import Iterable

# Most known phases taken into one funnel's hull (each costs one ML relaxation).
MAX_KNOWN_PHASES = 200


def known_phases(
    elements: Iterable[str], uri: str | None = None, limit: int = MAX_KNOWN_PHASES
) -> list[tuple[str, Structure]]:
    """``(material_id, structure)`` of stored compounds made only of ``elements``.

    One per (reduced formula, sites, volume per atom to 0.1 Å³): the same material under
    several protocols or families counts once. Elemental phases are left out (the funnel
    relaxes its own elemental references).
    """
    allowed = set(elements)
    fields = {"material_id": 1, "elements": 1, "structure": 1, "formula_reduced": 1, "_id": 0}
    fields |= {"nsites": 1, "volume_per_atom": 1}
    seen: set[tuple[Any, ...]] = set()
    out: list[tuple[str, Structure]] = []
    with open_database(uri) as (db, _):
        for doc in db[MATERIALS_COLLECTION].find({"nelements": {"$gte": 2}}, fields):
            if not set(doc["elements"]) <= allowed:
                continue
            key = (doc["formula_reduced"], doc["nsites"], round(doc["volume_per_atom"], 1))
            if key in seen:
                continue
            seen.add(key)
            out.append((doc["material_id"], Structure.from_dict(doc["structure"])))
            if len(out) >= limit:
                break
    return out


__all__ = ["MAX_KNOWN_PHASES", "known_phases"]
