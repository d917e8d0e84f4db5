"""Indexes on the task documents (jobflow's ``uuid``/``index``) and on the materials fields.

Created idempotently on both backends (``create_index`` on an existing index is a no-op).
On MongoDB they serve equality, range and sort queries. The embedded store (litemongo) uses
them as in-process hash indexes for equality and ``$in`` only; htflow's summary table
(:mod:`htflow.db.summary`) covers the range queries there.
"""

from __future__ import annotations

from typing import Any

from htflow.db.backends import DATA_COLLECTION, DOCS_COLLECTION
from htflow.db.collections import open_database
from htflow.db.materials import BUILDER_TASKS_COLLECTION, MATERIALS_COLLECTION

# jobflow resolves references by (uuid, index): without these, every lookup scans (jobflow #627).
OUTPUT_INDEXES: list[str | list[tuple[str, int]]] = [
    "uuid",
    "index",
    [("uuid", 1), ("index", -1)],
    "completed_at",
    "name",
    "output.@class",
    "output.dir_name",
]

MATERIAL_INDEXES: list[str | list[tuple[str, int]]] = [
    "material_id",
    "formula",
    "formula_reduced",
    "chemsys",
    "elements",
    "nelements",
    "nsites",
    "code",
    "protocol",
    "pseudo_family",
    "energy_above_hull",
    "formation_energy_per_atom",
    "band_gap",
    "is_metal",
    "is_stable",
    "k_vrh",
    "g_vrh",
    "provenance.task_ids",
    [("code", 1), ("protocol", 1), ("pseudo_family", 1), ("formula_reduced", 1)],
]


def ensure_indexes(uri: str | None = None) -> list[str]:
    """Create every index htflow relies on (idempotent); return the index names.

    Parameters
    ----------
    uri
        As for :func:`htflow.db.get_jobstore`.
    """
    with open_database(uri) as (db, target):
        return ensure_indexes_on(db, gridfs=target.kind == "mongodb")


def ensure_indexes_on(db: Any, gridfs: bool = False) -> list[str]:
    """:func:`ensure_indexes` on an open database object (``gridfs``: MongoDB's data store)."""
    names = []
    for key in OUTPUT_INDEXES:
        names.append(db[DOCS_COLLECTION].create_index(key))
    for key in MATERIAL_INDEXES:
        unique = key == "material_id"
        names.append(db[MATERIALS_COLLECTION].create_index(key, unique=unique))
    names.append(db[BUILDER_TASKS_COLLECTION].create_index("material_id"))
    # get_dos and the builder look DOS blobs up by blob_uuid: a plain collection on the
    # embedded store, GridFS (metadata in "<name>.files") on MongoDB
    if gridfs:
        names.append(db[DATA_COLLECTION + ".files"].create_index("metadata.blob_uuid"))
    else:
        names.append(db[DATA_COLLECTION].create_index("blob_uuid"))
    return names
