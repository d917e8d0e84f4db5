"""An OPTIMADE filter → a MongoDB filter on the materials document, the one htflow's own query
(:func:`htflow.db.query`) runs.

optimade-python-tools parses the filter and its ``MongoTransformer`` writes the MongoDB
filter with the stored fields' names (the aliases of :mod:`htflow.optimade.fields`). What
remains are conditions on fields the materials document does not store, which
:func:`rewrite` replaces by conditions on stored ones (see that module for the four kinds):

- a composition field: the condition is evaluated on the composition fields of every
  distinct ``formula_reduced`` in the store (with mongomock's matcher, so MongoDB's
  semantics), and becomes ``formula_reduced`` ∈ {the formulas that match};
- a constant or never-served field: the condition is evaluated once, and becomes
  "every material" (``{}``) or "none" (``material_id`` ∈ {});
- a per-site field: :class:`NotImplementedError`, which the server answers with 501.

``last_modified`` is stored as an ISO 8601 string: the transformer's datetime becomes the
same string form (naive UTC), which sorts as time does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from htflow.db.materials import known_field
from htflow.optimade.entries import composition_fields
from htflow.optimade.fields import (
    COMPOSITION_FIELDS,
    CONSTANT_FIELDS,
    FORMULA_FIELD,
    SITE_FIELDS,
    STORED_ALIASES,
)

if TYPE_CHECKING:
    from collections.abc import Callable

NEVER: dict[str, Any] = {"material_id": {"$in": []}}
ALWAYS: dict[str, Any] = {}
LOGICAL = ("$and", "$or", "$nor")
# Operators on ``elements`` that htflow's query pushes down as they are; anything else
# (HAS ONLY's $elemMatch, IS KNOWN's $exists) is answered through the composition.
_ELEMENT_OPERATORS = {"$in", "$all", "$nin"}
_TIMESTAMP_FIELD = STORED_ALIASES["last_modified"]


def rewrite(criteria: dict[str, Any], formulas: Callable[[], list[str]]) -> dict[str, Any]:
    """The transformer's filter with every condition on an unstored field replaced.

    Parameters
    ----------
    criteria
        MongoDB filter from optimade's ``MongoTransformer`` (stored fields already aliased).
    formulas
        Returns the distinct ``formula_reduced`` values of the store (called at most once,
        and only when a composition field is filtered on).

    Raises
    ------
    NotImplementedError
        A filter on a per-site field or on a relationship.
    """
    cache: list[list[str]] = []

    def distinct() -> list[str]:
        if not cache:
            cache.append(sorted(formulas()))
        return cache[0]

    return _node(criteria, distinct)


def _node(node: dict[str, Any], formulas: Callable[[], list[str]]) -> dict[str, Any]:
    parts = []
    for key, value in node.items():
        if key in LOGICAL:
            parts.append({key: [_node(sub, formulas) for sub in value]})
        elif key.startswith("$"):
            raise NotImplementedError(f"the filter operator {key} is not supported")
        else:
            parts.append(_condition(key, value, formulas))
    if not parts:
        return ALWAYS
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _condition(field: str, expr: Any, formulas: Callable[[], list[str]]) -> dict[str, Any]:
    base = field.split(".", 1)[0]
    if base == "elements" and _pushed_down(field, expr):
        return {field: expr}
    if base in COMPOSITION_FIELDS or base == "elements":
        matching = [f for f in formulas() if _applies(field, expr, _composition(f))]
        return {FORMULA_FIELD: {"$in": matching}}
    if base in CONSTANT_FIELDS:
        return ALWAYS if _applies(field, expr, CONSTANT_FIELDS) else NEVER
    if base in SITE_FIELDS:
        raise NotImplementedError(
            f"filters on {base} are not supported (only LENGTH {base}); "
            "filter on elements, nelements or nsites instead"
        )
    if base == "relationships":
        raise NotImplementedError("filters on relationships are not supported")
    if field == _TIMESTAMP_FIELD:
        return {field: _timestamps_as_stored(expr)}
    if known_field(field):
        return {field: expr}
    # a standard field htflow never serves, or another provider's field: null everywhere
    return ALWAYS if _applies(field, expr, {}) else NEVER


def _pushed_down(field: str, expr: Any) -> bool:
    return (
        field == "elements"
        and isinstance(expr, dict)
        and bool(expr)
        and set(expr) <= _ELEMENT_OPERATORS
        and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in expr.values())
    )


def _composition(formula: str) -> dict[str, Any]:
    try:
        return composition_fields(formula)
    except ValueError:  # a fractional composition has no OPTIMADE formula: null fields
        return {}


def _applies(field: str, expr: Any, document: dict[str, Any]) -> bool:
    from mongomock.filtering import filter_applies

    return bool(filter_applies({field: expr}, document))


def _timestamps_as_stored(expr: Any) -> Any:
    """Datetimes (the transformer's) → naive UTC ISO 8601 strings (as jobflow stores them)."""
    if isinstance(expr, datetime):
        moment = expr.astimezone(UTC) if expr.tzinfo else expr
        return moment.replace(tzinfo=None).isoformat()
    if isinstance(expr, dict):
        return {k: _timestamps_as_stored(v) for k, v in expr.items()}
    if isinstance(expr, list):
        return [_timestamps_as_stored(v) for v in expr]
    return expr
