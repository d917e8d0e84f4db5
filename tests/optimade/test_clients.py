"""Clients htflow did not write read the database: OptimadeClient, pymatgen's OptimadeRester,
ASE (extended XYZ export) and pyarrow/pandas (parquet export). Each rebuilds the same
structures (StructureMatcher) and the same numbers as htflow's own read API."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.db import get_structure, query
from htflow.optimade.fields import PROVIDER_FIELDS
from tests.optimade.conftest import Served, demo_documents

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from pymatgen.core import Structure

NUMBERS = [f.materials_field for f in PROVIDER_FIELDS]


def _table(uri: str) -> pd.DataFrame:
    return query({}, ["material_id", *NUMBERS], uri).set_index("material_id")


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def _check(uri: str, structures: dict[str, Structure], numbers: dict[str, dict[str, Any]]) -> None:
    """Every material, its structure (matched) and its numbers, as htflow reads them."""
    table = _table(uri)
    assert sorted(structures) == sorted(table.index) == sorted(numbers)
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    for mid, structure in structures.items():
        stored = get_structure(mid, uri)
        assert matcher.fit(structure, stored), mid
        assert structure.lattice.matrix == pytest.approx(stored.lattice.matrix, abs=1e-9)
        for field in NUMBERS:
            name = next(f.optimade_name for f in PROVIDER_FIELDS if f.materials_field == field)
            expected = table.at[mid, field]
            assert _same(expected, numbers[mid].get(name)), (mid, field)


def test_optimade_client(signed_in_api: Served, demo_db: str) -> None:
    from optimade.adapters import Structure as OptimadeStructure
    from optimade.client import OptimadeClient

    client = OptimadeClient(
        base_urls=[signed_in_api.url],
        headers=signed_in_api.headers,
        use_async=False,
        silent=True,
        max_results_per_provider=0,  # everything
    )
    results = client.get(filter="nsites >= 1")
    response = results["structures"]["nsites >= 1"][signed_in_api.url]
    assert not response["errors"], response["errors"]
    entries = response["data"]
    assert len(entries) == len(demo_documents())  # over several pages (page_limit 20)
    structures = {e["id"]: OptimadeStructure(e).as_pymatgen for e in entries}
    _check(demo_db, structures, {e["id"]: e["attributes"] for e in entries})
    count = client.count('elements HAS "Si"')
    assert count["structures"]['elements HAS "Si"'][signed_in_api.url] == len(
        query({"elements": "Si"}, ["material_id"], demo_db)
    )


def test_pymatgen_optimade_rester(public_api: Served, demo_db: str) -> None:
    from pymatgen.ext.optimade import OptimadeRester

    with OptimadeRester([public_api.url], timeout=60) as rester:
        fields = [f.optimade_name for f in PROVIDER_FIELDS]
        found = rester.get_snls_with_filter("nsites>=1", additional_response_fields=fields)
    ((_, snls),) = found.items()
    structures = {mid: snl.structure for mid, snl in snls.items()}
    numbers = {mid: snl.data["_optimade"] for mid, snl in snls.items()}
    _check(demo_db, structures, numbers)


def test_ase_reads_the_extxyz_export(demo_db: str, tmp_path: Path) -> None:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    from htflow.db.exports import export_extxyz

    target = tmp_path / "all.xyz"
    properties = ["band_gap", "k_vrh", "eos_b0", "formation_energy_per_atom"]
    export_extxyz(target, properties, uri=demo_db, include_suspect=True)
    frames = read(target, index=":")
    structures = {f.info["material_id"]: AseAtomsAdaptor.get_structure(f) for f in frames}
    numbers = {
        f.info["material_id"]: {f"_htflow_{p}": f.info.get(p) for p in properties}
        | {f"_htflow_{k}": v for k, v in f.info.items() if k.endswith("_quality")}
        for f in frames
    }
    table = _table(demo_db)
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    assert sorted(structures) == sorted(table.index)
    for mid, structure in structures.items():
        assert matcher.fit(structure, get_structure(mid, demo_db))
        for p in properties:
            assert _same(table.at[mid, p], numbers[mid][f"_htflow_{p}"]), (mid, p)
        quality = query({"material_id": mid}, ["quality.band_gap"], demo_db)["quality.band_gap"][0]
        assert numbers[mid].get("_htflow_band_gap_quality") == quality


def test_pyarrow_and_pandas_read_the_parquet_export(demo_db: str, tmp_path: Path) -> None:
    import json

    import pandas as pd
    import pyarrow.parquet as pq
    from pymatgen.core import Structure

    from htflow.db.exports import export_parquet

    target = tmp_path / "all.parquet"
    export_parquet(target, [*NUMBERS[:13], "structure"], uri=demo_db, include_suspect=True)
    table = pq.read_table(target)
    assert table.column_names[0] == "material_id"
    assert {"quality.band_gap", "quality.elastic", "quality.eos"} <= set(table.column_names)
    frame = pd.read_parquet(target).set_index("material_id")
    assert frame.equals(table.to_pandas().set_index("material_id"))
    structures = {mid: Structure.from_dict(json.loads(s)) for mid, s in frame.structure.items()}
    numbers = {
        mid: {f"_htflow_{f}": (None if pd.isna(row[f]) else row[f]) for f in NUMBERS[:13]}
        for mid, row in frame.iterrows()
    }
    reference = _table(demo_db)
    assert sorted(structures) == sorted(reference.index)
    for mid, structure in structures.items():
        assert structure == get_structure(mid, demo_db)
        for f in NUMBERS[:13]:
            assert _same(reference.at[mid, f], numbers[mid][f"_htflow_{f}"]), (mid, f)
