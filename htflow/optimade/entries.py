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


def _sites(structure: dict[str, Any]) -> dict[str, Any]:
    """lattice_vectors, cartesian_site_positions, species_at_sites and species (Å, amu)."""
    from pymatgen.core import Element, Structure

    cell = Structure.from_dict(structure)
    species: dict[str, dict[str, Any]] = {}
    at_sites = []
    disordered = False
    for site in cell:
        name = site.species_string
        if name not in species:
            items = sorted(site.species.items(), key=lambda item: str(item[0]))
            symbols = [Element(str(getattr(sp, "element", sp))).symbol for sp, _ in items]
            amounts = [float(amount) for _, amount in items]
            if len(items) > 1 or sum(amounts) < 1 - 1e-6:
                disordered = True
            species[name] = {
                "name": name,
                "chemical_symbols": symbols,
                "concentration": amounts,
                "mass": [float(Element(s).atomic_mass) for s in symbols],
            }
        at_sites.append(name)
    return {
        "lattice_vectors": cell.lattice.matrix.tolist(),
        "cartesian_site_positions": cell.cart_coords.tolist(),
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
