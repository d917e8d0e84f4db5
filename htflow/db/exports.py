"""Exports for ML: CGCNN directories, extended XYZ and parquet, written atomically.

Every export is written next to its target under a temporary name and renamed into place
at the end, so a failure (or a kill) never leaves a half-written export where the user
expects one; temporaries of a killed export start with ``.htflow-export-``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.db.access import QueryError, check_fields, query
from htflow.db.materials import MATERIALS_COLLECTION, SUMMARY_FIELDS
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

TMP_PREFIX = ".htflow-export-"
BATCH = 1000


@contextmanager
def atomic_path(target: str | Path, directory: bool, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it to ``target`` on success.

    On an exception the temporary is removed and ``target`` is left as it was.
    """
    target = Path(target).resolve()
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists: choose another path or pass overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary directory
    work = tmp if directory else tmp / target.name
    try:
        yield work
        if target.exists():
            old = target.with_name(f"{TMP_PREFIX}old-{target.name}")
            os.replace(target, old)
            os.replace(work, target)
            _remove(old)
        else:
            os.replace(work, target)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _with_property(prop: str, criteria: dict[str, Any] | None, uri: str | None) -> pd.DataFrame:
    if prop not in SUMMARY_FIELDS or SUMMARY_FIELDS[prop] in ("JSON", "TEXT"):
        numeric = [f for f, t in SUMMARY_FIELDS.items() if t in ("REAL", "INTEGER", "BOOLEAN")]
        raise QueryError(
            f"cannot export {prop!r} as a target: use a numeric field ({', '.join(numeric[:8])}, …)"
        )
    full = {"$and": [dict(criteria or {}), {prop: {"$ne": None}}]}
    frame = query(full, ["material_id", prop], uri=uri)
    if frame.empty:
        query(criteria, ["material_id"], uri=uri)  # raises for unknown fields in criteria
        raise QueryError(f"no material matching the filter has {prop!r}: nothing to export")
    return frame


def _structures(ids: list[str], uri: str | None) -> Iterator[tuple[str, Any]]:
    from pymatgen.core import Structure

    from htflow.db.collections import open_database

    with open_database(uri) as (db, _):
        coll = db[MATERIALS_COLLECTION]
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            found = {
                d["material_id"]: d["structure"]
                for d in coll.find(
                    {"material_id": {"$in": chunk}}, {"material_id": 1, "structure": 1, "_id": 0}
                )
            }
            for mid in chunk:
                yield mid, Structure.from_dict(found[mid])


def export_cgcnn(
    target: str | Path,
    prop: str,
    criteria: dict[str, Any] | None = None,
    uri: str | None = None,
    overwrite: bool = False,
) -> int:
    """Write a CGCNN directory: ``<material_id>.cif`` each, ``id_prop.csv``, ``atom_init.json``.

    Materials without ``prop`` are skipped. ``atom_init.json`` is generated from pymatgen's
    element data (see :func:`atom_init`); replace it with CGCNN's own 92-feature file to
    reproduce the paper's models.

    Returns
    -------
    int
        Number of materials written.
    """
    from pymatgen.io.cif import CifWriter

    frame = _with_property(prop, criteria, uri)
    ids = frame["material_id"].tolist()
    with atomic_path(target, directory=True, overwrite=overwrite) as work:
        elements: set[int] = set()
        for mid, structure in _structures(ids, uri):
            CifWriter(structure).write_file(work / f"{mid}.cif")
            elements.update(site.specie.Z for site in structure)
        with (work / "id_prop.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            for mid, value in zip(ids, frame[prop].tolist(), strict=True):
                writer.writerow([mid, _number(value)])
        (work / "atom_init.json").write_text(json.dumps(atom_init(sorted(elements))))
    return len(ids)


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def atom_init(atomic_numbers: list[int]) -> dict[str, list[float]]:
    """CGCNN atom features from pymatgen: one-hot group (18), period (9) and block (4).

    A smaller, documented stand-in for CGCNN's 92-feature ``atom_init.json`` (which also bins
    electronegativity, radius, ionisation energy, …); CGCNN reads any feature length.
    """
    from pymatgen.core import Element

    blocks = ["s", "p", "d", "f"]
    out = {}
    for z in atomic_numbers:
        el = Element.from_Z(z)
        vec = [0.0] * (18 + 9 + 4)
        vec[el.group - 1] = 1.0
        vec[18 + el.row - 1] = 1.0
        vec[27 + blocks.index(el.block)] = 1.0
        out[str(z)] = vec
    return out


def export_extxyz(
    target: str | Path,
    properties: list[str],
    criteria: dict[str, Any] | None = None,
    uri: str | None = None,
    overwrite: bool = False,
) -> int:
    """Write one extended-XYZ file: a frame per material, ``properties`` in its info line."""
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    fields = ["material_id", *[p for p in properties if p != "material_id"]]
    check_fields(fields, criteria)
    for p in fields:
        if p not in SUMMARY_FIELDS:
            raise QueryError(f"cannot write {p!r} into extended XYZ: use scalar fields")
    frame = query(criteria, fields, uri=uri)
    if frame.empty:
        raise QueryError("no material matches the filter: nothing to export")
    rows = frame.to_dict("records")
    by_id = {r["material_id"]: r for r in rows}
    with atomic_path(target, directory=False, overwrite=overwrite) as work:
        frames = []
        for mid, structure in _structures(list(by_id), uri):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            for key, value in by_id[mid].items():
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    atoms.info[key] = json.dumps(value) if isinstance(value, list) else value
            frames.append(atoms)
        write(work, frames, format="extxyz")
    return len(frames)


def export_parquet(
    target: str | Path,
    fields: list[str],
    criteria: dict[str, Any] | None = None,
    uri: str | None = None,
    overwrite: bool = False,
) -> int:
    """Write the query's DataFrame to parquet (pyarrow); nested fields become JSON strings."""
    frame = query(criteria, fields, uri=uri)
    for column in frame.columns:
        if column not in SUMMARY_FIELDS:
            frame[column] = [
                json.dumps(v, default=str) if v is not None else None for v in frame[column]
            ]
    with atomic_path(target, directory=False, overwrite=overwrite) as work:
        frame.to_parquet(work, index=False)
    return len(frame)
