"""The materials read path on synthetic documents: SQL pushdown = the documents, errors, indexes."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from htflow.db import query
from htflow.db.access import MaterialNotFoundError, QueryError, _frame
from htflow.db.collections import open_database
from htflow.db.indexes import ensure_indexes
from htflow.db.materials import MATERIALS_COLLECTION
from htflow.db.summary import upsert_summary
from htflow.db.synthetic import synthetic_material
from htflow.db.uri import resolve

if TYPE_CHECKING:
    from pathlib import Path

N = 300
FIELDS = [
    "material_id",
    "formula_reduced",
    "band_gap",
    "is_metal",
    "k_vrh",
    "elements",
    "dos.gap",
    "quality.elastic",
    "quality.band_gap",
]
LEVELS = ("suspect", "checked", "verified")


def with_quality(doc: dict[str, object], rng: random.Random) -> dict[str, object]:
    """A quality label (and its evidence) for each property the synthetic document has."""
    present = {
        "energy": True,
        "band_gap": doc["band_gap"] is not None,
        "dos": doc["dos"] is not None,
        "elastic": doc["k_vrh"] is not None,
        "formation_energy": doc["formation_energy_per_atom"] is not None,
    }
    quality = {k: rng.choice(LEVELS) for k, has in present.items() if has}
    doc["quality"] = quality
    doc["checks"] = {
        k: {
            "level": level,
            "reasons": [f"synthetic {k} reason"] if level == "suspect" else [],
            "checks": [],
            "verified_by": None,
            "settings": {},
        }
        for k, level in quality.items()
    }
    return doc


def fill(uri: str, n: int = N) -> list[dict[str, object]]:
    rng = random.Random(7)
    levels = random.Random(11)  # its own stream: the materials stay those of seed 7
    docs = [with_quality(synthetic_material(i, rng), levels) for i in range(n)]
    ensure_indexes(uri)
    with open_database(uri) as (db, target):
        db[MATERIALS_COLLECTION].insert_many(docs)
    if target.kind == "embedded":
        upsert_summary(target, docs)
    return docs


@pytest.fixture
def filled(db_uri: str) -> str:
    fill(db_uri)
    return db_uri


CRITERIA = [
    {},
    {"is_metal": False},
    {"band_gap": {"$gt": 1.5}, "nsites": {"$in": [2, 4]}},
    {"elements": "Si"},
    {"elements": {"$all": ["Si", "O"]}},
    {"k_vrh": {"$ne": None}},
    {"k_vrh": None},
    {"$or": [{"chemsys": "Si"}, {"formation_energy_per_atom": {"$lt": -2}}]},
    {"energy_above_hull": {"$lte": 0.05}, "protocol": "fast"},
    {"dos.gap": {"$gte": 2}},
    {"quality.elastic": "checked"},
    {"quality.elastic": {"$ne": "suspect"}},
    {"quality.band_gap": {"$in": ["checked", "verified"]}, "is_metal": False},
    {"quality.elastic": {"$exists": True}, "quality.energy": "suspect"},
]
# Operators the OPTIMADE filters produce (CONTAINS / STARTS / ENDS, NOT): pushed down too.
REGEX_AND_NOT = [
    {"material_id": {"$regex": "^htf-0"}},
    {"formula_reduced": {"$regex": "O"}, "nelements": 2},
    {"formula": {"$regex": "1$"}},
    {"quality.elastic": {"$not": {"$eq": "suspect"}}},
    {"k_vrh": {"$not": {"$gt": 200}}},
    {"k_vrh": {"$not": {"$eq": None}}},
    {"formula_reduced": {"$not": {"$regex": "^Si"}}},
]
CRITERIA += REGEX_AND_NOT


@pytest.mark.parametrize("criteria", CRITERIA)
def test_sql_pushdown_equals_the_documents(tmp_path: Path, criteria: dict[str, object]) -> None:
    uri = f"file://{tmp_path / 'db'}"
    docs = fill(uri)
    fast = query(criteria, FIELDS, uri)
    # the same filter evaluated by mongomock on the documents themselves
    with open_database(uri) as (db, _):
        records = sorted(db[MATERIALS_COLLECTION].find(criteria), key=lambda d: d["material_id"])
    slow = _frame(records, FIELDS)
    assert len(fast) > 0 or criteria == {"elements": {"$all": ["Si", "O"]}}
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False)
    assert len(docs) == N


@pytest.mark.parametrize("criteria", REGEX_AND_NOT)
def test_regex_and_not_are_translated_to_sql(criteria: dict[str, object]) -> None:
    from htflow.db.summary import _translate

    where, _ = _translate(criteria)
    assert "REGEXP" in where or "NOT" in where


def test_query_on_both_backends(filled: str) -> None:
    frame = query({"is_metal": False, "band_gap": {"$gt": 1}}, ["material_id", "band_gap"], filled)
    assert list(frame.columns) == ["material_id", "band_gap"]
    assert (frame.band_gap > 1).all()
    assert frame.material_id.is_monotonic_increasing
    # non-scalar fields come from the documents
    structures = query({"nsites": 2}, ["material_id", "structure"], filled, limit=3)
    assert len(structures) == 3
    assert all(s["sites"] for s in structures.structure)


def test_quality_filters_on_both_backends(filled: str) -> None:
    fields = ["material_id", "k_vrh", "quality.elastic"]
    checked = query({"quality.elastic": "checked"}, fields, filled)
    assert len(checked) > 0
    assert set(checked["quality.elastic"]) == {"checked"}
    assert checked.k_vrh.notna().all()
    usable = query({"quality.elastic": {"$ne": "suspect"}}, fields, filled)
    # $ne matches materials without an elastic tensor too (no quality key), as on MongoDB
    assert usable["quality.elastic"].isna().any()
    assert "suspect" not in set(usable["quality.elastic"].dropna())
    everything = query({}, fields, filled)
    suspect = query({"quality.elastic": "suspect"}, fields, filled)
    assert len(usable) + len(suspect) == len(everything) == N
    # the evidence comes from the documents
    reasons = query({"quality.elastic": "suspect"}, ["material_id", "checks.elastic"], filled)
    assert all(c["reasons"] == ["synthetic elastic reason"] for c in reasons["checks.elastic"])
    with pytest.raises(QueryError, match=r"unknown materials field 'quality\.nonsense'"):
        query({"quality.nonsense": "checked"}, uri=filled)


def test_a_summary_table_from_an_older_schema(tmp_path: Path) -> None:
    """Readers fall back to the documents; the next writer adds the missing columns."""
    import sqlite3

    from htflow.db.summary import summary_path

    uri = f"file://{tmp_path / 'db'}"
    docs = fill(uri, 20)
    path = summary_path(resolve(uri))
    with sqlite3.connect(path) as con:  # what an older htflow left behind
        con.execute("DROP TABLE materials_summary")
        con.execute("CREATE TABLE materials_summary (material_id TEXT PRIMARY KEY, band_gap REAL)")
        con.execute("INSERT INTO materials_summary VALUES ('x', 1.0)")
    frame = query({"quality.elastic": "checked"}, ["material_id", "quality.elastic"], uri)
    expected = sorted(d["material_id"] for d in docs if d["quality"].get("elastic") == "checked")
    assert frame.material_id.tolist() == expected
    upsert_summary(resolve(uri), docs)
    with sqlite3.connect(path) as con:
        columns = {row[1] for row in con.execute("PRAGMA table_info(materials_summary)")}
    assert {"quality__elastic", "quality__energy", "nsites"} <= columns
    frame = query({"quality.elastic": "checked"}, ["material_id", "quality.elastic"], uri)
    assert frame.material_id.tolist() == expected


def test_unknown_field_and_missing_property(filled: str) -> None:
    with pytest.raises(QueryError, match="unknown materials field 'bandgap'"):
        query({"bandgap": 1}, uri=filled)
    with pytest.raises(QueryError, match="unknown materials field"):
        query({}, ["material_id", "nonsense"], uri=filled)
    with pytest.raises(QueryError, match="no material has 'eos_b0'"):
        query({"eos_b0": {"$gt": 0}}, uri=filled)
    with pytest.raises(MaterialNotFoundError, match="no material 'htf-nope'"):
        from htflow.db import get_structure

        get_structure("htf-nope", filled)


def test_unreachable_mongodb_is_one_line() -> None:
    from htflow.db import DatabaseUnreachableError

    start = time.monotonic()
    with pytest.raises(DatabaseUnreachableError) as info:
        query({}, uri="mongodb://user:secret@127.0.0.1:9/campaign")
    assert "\n" not in str(info.value)
    assert "secret" not in str(info.value)
    assert time.monotonic() - start < 10


def test_indexes_are_idempotent(db_uri: str) -> None:
    first = ensure_indexes(db_uri)
    assert ensure_indexes(db_uri) == first
    with open_database(db_uri) as (db, _):
        names = set(db["outputs"].index_information())
        material_names = set(db[MATERIALS_COLLECTION].index_information())
    assert {"uuid_1", "index_1", "uuid_1_index_-1"} <= names
    assert {
        "formula_reduced_1",
        "chemsys_1",
        "band_gap_1",
        "k_vrh_1",
        "is_metal_1",
    } <= material_names
    assert resolve(db_uri).database in ("htflow",) or db_uri.startswith("mongodb")
