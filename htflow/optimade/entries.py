"""A materials document as an OPTIMADE ``structures`` entry, and the composition fields.

Lengths in Å, as stored. The composition fields (reduced and anonymous formulae, element
ratios) are computed from integer element counts reduced by their greatest common divisor,
by the same function whether they describe a served entry or a filter's candidates
(:func:`composition_fields`), so the two cannot disagree.
"""

from __future__ import annotations

import math
import string
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from htflow.db.materials import field_value
from htflow.optimade.fields import (
    CONSTANT_FIELDS,
    PROJECT_REFERENCE_ID,
    PROVIDER_FIELDS,
)

# Fields of the materials document that building an entry reads (the projection).
MATERIALS_FIELDS = [
    "material_id",
    "formula",
    "formula_reduced",
    "elements",
    "nelements",
    "nsites",
    "structure",
    "provenance.last_updated",
    "provenance.created_at",
    *(f.materials_field for f in PROVIDER_FIELDS),
]


def _anonymous_symbols() -> list[str]:
    # OPTIMADE's anonymous symbols: A … Z, then Aa … Az, Ba …
    upper, lower = string.ascii_uppercase, string.ascii_lowercase
    return list(upper) + [a + b for a in upper for b in lower]


_ANONYMOUS = _anonymous_symbols()


def _formula(parts: list[tuple[str, int]]) -> str:
    return "".join(f"{symbol}{count if count != 1 else ''}" for symbol, count in parts)


def reduced_counts(amounts: dict[str, float]) -> dict[str, int]:
    """Element → integer count, reduced by the greatest common divisor.

    Raises
    ------
    ValueError
        A fractional amount (a disordered composition), which OPTIMADE's formulae cannot hold.
    """
    counts = {}
    for symbol, amount in amounts.items():
        if amount <= 0:
            continue
        if abs(amount - round(amount)) > 1e-6:
            raise ValueError(f"fractional amount {amount} of {symbol}")
        counts[symbol] = round(amount)
    divisor = math.gcd(*counts.values()) or 1
    return {symbol: count // divisor for symbol, count in counts.items()}


@lru_cache(maxsize=65536)
def composition_fields(formula: str) -> dict[str, Any]:
    """The composition fields of a reduced formula (any formula pymatgen parses, e.g. the
    materials document's ``formula_reduced``): ``chemical_formula_reduced``,
    ``chemical_formula_anonymous``, ``elements``, ``nelements`` and ``elements_ratios``."""
    from pymatgen.core import Composition

    counts = reduced_counts(Composition(formula).get_el_amt_dict())
    elements = sorted(counts)
    total = sum(counts.values())
    by_count = sorted(counts.values(), reverse=True)
    return {
        "chemical_formula_reduced": _formula([(el, counts[el]) for el in elements]),
        "chemical_formula_anonymous": _formula(list(zip(_ANONYMOUS, by_count, strict=False))),
        "elements": elements,
        "nelements": len(elements),
        "elements_ratios": [counts[el] / total for el in elements],
    }


def _timestamp(value: Any) -> datetime | None:
    """A stored ISO 8601 timestamp (naive ones are UTC, as jobflow writes them) → datetime."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=256)
def _mass(symbol: str) -> float:
    from pymatgen.core import Element

    return float(Element(symbol).atomic_mass)


def _species(occupants: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A site's occupants (pymatgen's dict) → (species name, OPTIMADE species)."""
    occupants = sorted(occupants, key=lambda sp: sp["element"])
    names = []
    for sp in occupants:
        name = sp["element"]
        oxidation = sp.get("oxidation_state")
        if oxidation:
            name += f"{abs(oxidation):g}{'+' if oxidation > 0 else '-'}"
        if len(occupants) > 1 or sp.get("occu", 1) != 1:
            name += f":{sp.get('occu', 1):g}"
        names.append(name)
    symbols = [sp["element"] for sp in occupants]
    name = ",".join(names)
    species: dict[str, Any] = {
        "name": name,
        "chemical_symbols": symbols,
        "concentration": [float(sp.get("occu", 1)) for sp in occupants],
        "mass": [_mass(symbol) for symbol in symbols],
    }
    return name, species


def _sites(structure: dict[str, Any]) -> dict[str, Any]:
    """lattice_vectors, cartesian_site_positions, species_at_sites and species (Å, amu), read
    from the stored pymatgen dict (building a Structure costs more than the rest of an entry)."""
    import numpy as np

    matrix = np.asarray(structure["lattice"]["matrix"], dtype=float)
    sites = structure["sites"]
    fractional = np.asarray([site["abc"] for site in sites], dtype=float).reshape(-1, 3)
    species: dict[str, dict[str, Any]] = {}
    at_sites = []
    for site in sites:
        name, entry = _species(site["species"])
        species.setdefault(name, entry)
        at_sites.append(name)
    disordered = any(
        len(s["chemical_symbols"]) > 1 or sum(s["concentration"]) < 1 - 1e-6
        for s in species.values()
    )
    return {
        "lattice_vectors": matrix.tolist(),
        "cartesian_site_positions": (fractional @ matrix).tolist(),
        "species_at_sites": at_sites,
        "species": list(species.values()),
        "structure_features": ["disorder"] if disordered else [],
    }


def structure_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """One materials document (as stored) → ``{"id", "type", "attributes", "relationships"}``.

    The attributes hold the standard fields and every ``_htflow_`` provider field (null when
    the material lacks the property).
    """
    provenance = doc.get("provenance") or {}
    attributes: dict[str, Any] = {
        "last_modified": _timestamp(provenance.get("last_updated"))
        or _timestamp(provenance.get("created_at")),
        "chemical_formula_descriptive": doc["formula"],
        **composition_fields(doc["formula_reduced"]),
        "nsites": doc["nsites"],
        **{k: v for k, v in CONSTANT_FIELDS.items() if k != "structure_features"},
        **_sites(doc["structure"]),
    }
    # the stored values are the authority on what the material is
    attributes["elements"] = list(doc["elements"])
    attributes["nelements"] = doc["nelements"]
    for field in PROVIDER_FIELDS:
        attributes[field.optimade_name] = field_value(doc, field.materials_field)
    return {
        "id": doc["material_id"],
        "type": "structures",
        "attributes": attributes,
        "relationships": {
            "references": {"data": [{"id": PROJECT_REFERENCE_ID, "type": "references"}]}
        },
    }
