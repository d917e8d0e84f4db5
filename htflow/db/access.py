"""Read materials for ML: ``query`` to a DataFrame, and one material's structure, DOS, tensor.

The same calls work on the embedded store and on MongoDB. On MongoDB the filter and the
projection go to the server (indexed). On the embedded store a filter over the scalar fields
runs as SQL on the summary table (:mod:`htflow.db.summary`), reading only the projected
columns; anything else (non-scalar fields, unusual operators) runs on the documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.db.materials import (
    MATERIALS_COLLECTION,
    SUMMARY_FIELDS,
    field_value,
    known_field,
)
from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    import pandas as pd
    from pymatgen.core import Structure
    from pymatgen.electronic_structure.dos import CompleteDos

DEFAULT_FIELDS = [
    "material_id",
    "formula_reduced",
    "energy_per_atom",
    "formation_energy_per_atom",
    "band_gap",
]


class QueryError(HtflowError):
    """A query or export names an unknown field, or asks for a property no material has."""


class MaterialNotFoundError(HtflowError):
    """No material has the given id, or it lacks the requested data."""


def query(
    criteria: dict[str, Any] | None = None,
    fields: list[str] | None = None,
    uri: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Materials matching ``criteria`` as a DataFrame with one column per field.

    Parameters
    ----------
    criteria
        A MongoDB filter on materials fields, e.g. ``{"band_gap": {"$gt": 1},
        "elements": "Si", "protocol": "balanced"}``; None means every material.
    fields
        Columns to return (dotted names for nested fields, e.g. ``"dos.dos_at_efermi"``);
        default ``DEFAULT_FIELDS``. Units are those of :class:`htflow.db.materials.MaterialDoc`.
    uri
        As for :func:`htflow.db.get_jobstore`.
    limit
        At most this many rows (by material_id).

    Raises
    ------
    QueryError
        An unknown field in ``criteria`` or ``fields``, or a filter on a property that no
        material has.
    """
    criteria = dict(criteria or {})
    fields = list(fields or DEFAULT_FIELDS)
    check_fields(fields, criteria)
    frame = _run(criteria, fields, uri, limit)
    if frame.empty and criteria:
        _check_present(list(_criteria_fields(criteria)), uri)
    return frame


def select_materials(
    criteria: dict[str, Any], fields: list[str], uri: str | None = None
) -> pd.DataFrame:
    """The engine of :func:`query` without its checks: rows by material_id, never an error.

    For servers that validate fields themselves (the OPTIMADE API): a filter on a property
    no material has is simply empty. Same backends and pushdown as :func:`query`.
    """
    return _run(dict(criteria), list(fields), uri, None)


def distinct_values(field: str, uri: str | None = None) -> list[Any]:
    """The distinct non-null values of a scalar materials field (the summary table's
    column on the embedded store, an indexed ``distinct`` on MongoDB)."""
    from htflow.db.collections import open_database
    from htflow.db.summary import distinct_summary, has_summary
    from htflow.db.uri import resolve

    check_fields([field])
    target = resolve(uri)
    if target.kind == "embedded" and field in SUMMARY_FIELDS and has_summary(target):
        return distinct_summary(target, field)
    with open_database(uri) as (db, _):
        return [v for v in db[MATERIALS_COLLECTION].distinct(field) if v is not None]


def check_fields(fields: list[str], criteria: dict[str, Any] | None = None) -> None:
    """Raise :class:`QueryError` for a field that materials documents do not have."""
    for name in [*fields, *_criteria_fields(criteria or {})]:
        if not known_field(name):
            raise QueryError(
                f"unknown materials field {name!r}: see docs/ml_access.md for the schema "
                f"(e.g. {', '.join(list(SUMMARY_FIELDS)[:6])}, …)"
            )


def _criteria_fields(criteria: dict[str, Any]) -> list[str]:
    out = []
    for key, value in criteria.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for sub in value:
                out += _criteria_fields(sub)
        elif not key.startswith("$"):
            out.append(key)
    return out


def _run(
    criteria: dict[str, Any], fields: list[str], uri: str | None, limit: int | None
) -> pd.DataFrame:
    from htflow.db.collections import open_database
    from htflow.db.summary import Untranslatable, has_summary, query_summary
    from htflow.db.uri import resolve

    target = resolve(uri)
    if target.kind == "embedded" and has_summary(target):
        try:
            return query_summary(target, criteria, fields, limit)
        except Untranslatable:
            pass
    with open_database(uri) as (db, _):
        projection = {f: 1 for f in fields}
        projection["_id"] = 0
        projection["material_id"] = 1
        cursor = db[MATERIALS_COLLECTION].find(criteria, projection)
        if target.kind == "mongodb":
            cursor = cursor.sort("material_id", 1)
            if limit:
                cursor = cursor.limit(limit)
            records = list(cursor)
        else:
            # litemongo sorts without an index: sort the projected rows here instead
            records = sorted(cursor, key=lambda d: d["material_id"])[:limit]
    return _frame(records, fields)


def _frame(records: list[dict[str, Any]], fields: list[str]) -> pd.DataFrame:
    import pandas as pd

    columns = {f: [field_value(r, f) for r in records] for f in fields}
    frame = pd.DataFrame(columns, columns=fields)
    for field in fields:
        if SUMMARY_FIELDS.get(field) == "BOOLEAN":
            frame[field] = frame[field].astype("boolean")
    return frame


def _check_present(fields: list[str], uri: str | None) -> None:
    from htflow.db.collections import open_database

    with open_database(uri) as (db, _):
        for field in fields:
            if db[MATERIALS_COLLECTION].find_one({field: {"$ne": None}}, {"_id": 1}) is None:
                raise QueryError(
                    f"no material has {field!r}: compute it first or drop it from the query"
                )


def _material(material_id: str, uri: str | None, fields: list[str]) -> dict[str, Any]:
    from htflow.db.collections import open_database

    with open_database(uri) as (db, _):
        doc = db[MATERIALS_COLLECTION].find_one(
            {"material_id": material_id}, {f: 1 for f in fields}
        )
    if doc is None:
        raise MaterialNotFoundError(f"no material {material_id!r}: list ids with htflow.db.query()")
    return dict(doc)


def get_structure(material_id: str, uri: str | None = None) -> Structure:
    """The final structure (Å) of a material."""
    from pymatgen.core import Structure

    return Structure.from_dict(_material(material_id, uri, ["structure"])["structure"])


def get_dos(material_id: str, uri: str | None = None) -> CompleteDos:
    """The full CompleteDos of a material (eV, states/eV per cell), from the data store."""
    from pymatgen.electronic_structure.dos import CompleteDos

    from htflow.db.backends import DATA_STORE_NAME, get_jobstore

    ref = _material(material_id, uri, ["dos_ref"]).get("dos_ref")
    if not ref:
        raise MaterialNotFoundError(
            f"material {material_id!r} has no DOS: run a DOS (nscf) job for it"
        )
    store: Any = get_jobstore(uri)
    store.connect()
    try:
        if ref.get("blob_uuid"):
            blob = store.additional_stores[DATA_STORE_NAME].query_one(
                {"blob_uuid": ref["blob_uuid"]}
            )
            raw = blob["data"] if blob else None
        else:
            doc = store.query_one({"uuid": ref["task_uuid"], "index": ref["task_index"]}, load=True)
            raw = (doc or {}).get("output", {}).get("dos")
    finally:
        store.close()
    if raw is None:
        raise MaterialNotFoundError(f"the DOS of {material_id!r} is missing from the data store")
    return CompleteDos.from_dict(raw)


def get_elastic(material_id: str, uri: str | None = None) -> dict[str, Any]:
    """Elastic data of a material.

    Returns
    -------
    dict
        ``elastic_tensor`` (pymatgen ``ElasticTensor``, GPa, IEEE frame), ``k_vrh`` and
        ``g_vrh`` (GPa), ``poisson_ratio`` and ``universal_anisotropy`` (dimensionless).
    """
    from pymatgen.analysis.elasticity import ElasticTensor

    names = ["elastic_tensor", "k_vrh", "g_vrh", "poisson_ratio", "universal_anisotropy"]
    doc = _material(material_id, uri, names)
    if not doc.get("elastic_tensor"):
        raise MaterialNotFoundError(
            f"material {material_id!r} has no elastic tensor: run ElasticMaker on it"
        )
    out = {name: doc.get(name) for name in names}
    out["elastic_tensor"] = ElasticTensor.from_voigt(doc["elastic_tensor"])
    return out
