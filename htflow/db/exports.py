"""Exports for ML: CGCNN directories, extended XYZ and parquet, written atomically.

Every export is written next to its target under a temporary name and renamed into place
at the end, so a failure (or a kill) never leaves a half-written export where the user
expects one; temporaries of a killed export start with ``.htflow-export-``.

Every export carries the quality of the properties it contains (``verified``, ``checked``,
``suspect``; see :mod:`htflow.quality`), and leaves ``suspect`` values out unless asked to
keep them (``include_suspect=True``): CGCNN drops the material, extended XYZ and parquet
blank the value and keep its quality label. The returned count says how many were left out.
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
from htflow.quality.schema import quality_property

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

TMP_PREFIX = ".htflow-export-"
BATCH = 1000
SUSPECT = "suspect"
QUALITY_FILE = "id_prop_quality.csv"


class ExportCount(int):
    """The number of materials written (an ``int``), with ``left_out``: the suspect values
    (CGCNN: materials) that were left out because ``include_suspect`` was False."""

    left_out: int

    def __new__(cls, written: int, left_out: int = 0) -> ExportCount:
        count = super().__new__(cls, written)
        count.left_out = left_out
        return count


def quality_columns(fields: list[str]) -> dict[str, str]:
    """Exported field → the ``quality.<key>`` column that covers it (fields with a quality)."""
    out = {}
    for field in fields:
        key = quality_property(field)
        if key is not None:
            out[field] = f"quality.{key}"
    return out


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


def _with_property(
    prop: str, criteria: dict[str, Any] | None, uri: str | None, extra: list[str]
) -> pd.DataFrame:
    if prop not in SUMMARY_FIELDS or SUMMARY_FIELDS[prop] in ("JSON", "TEXT"):
        numeric = [f for f, t in SUMMARY_FIELDS.items() if t in ("REAL", "INTEGER", "BOOLEAN")]
        raise QueryError(
            f"cannot export {prop!r} as a target: use a numeric field ({', '.join(numeric[:8])}, …)"
        )
    full = {"$and": [dict(criteria or {}), {prop: {"$ne": None}}]}
    frame = query(full, ["material_id", prop, *extra], uri=uri)
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
    *,
    include_suspect: bool = False,
) -> ExportCount:
    """Write a CGCNN directory: ``<material_id>.cif`` each, ``id_prop.csv``, ``atom_init.json``
    and ``id_prop_quality.csv``.

    Materials without ``prop`` are skipped, and so are those whose ``prop`` is suspect unless
    ``include_suspect``. ``id_prop.csv`` keeps CGCNN's two columns (id, value);
    ``id_prop_quality.csv`` has a header and one row per material: ``material_id``,
    ``quality`` (verified, checked, suspect; empty when unknown) and ``reason`` (a suspect
    value's reasons, joined by ``; ``). ``atom_init.json`` is generated from pymatgen's
    element data (see :func:`atom_init`); replace it with CGCNN's own 92-feature file to
    reproduce the paper's models.

    Returns
    -------
    ExportCount
        Number of materials written; ``.left_out``: suspect materials left out.
    """
    from pymatgen.io.cif import CifWriter

    column = quality_columns([prop]).get(prop)
    frame = _with_property(prop, criteria, uri, [column] if column else [])
    levels = frame[column].tolist() if column else [None] * len(frame)
    keep = [include_suspect or level != SUSPECT for level in levels]
    left_out = keep.count(False)
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise QueryError(
            f"all {left_out} materials with {prop!r} are suspect: nothing to export "
            "(include them with --include-suspect / include_suspect=True)"
        )
    ids = frame["material_id"].tolist()
    levels = frame[column].tolist() if column else [None] * len(frame)
    reasons = _reasons([m for m, q in zip(ids, levels, strict=True) if q == SUSPECT], column, uri)
    with atomic_path(target, directory=True, overwrite=overwrite) as work:
        elements: set[int] = set()
        for mid, structure in _structures(ids, uri):
            CifWriter(structure).write_file(work / f"{mid}.cif")
            elements.update(site.specie.Z for site in structure)
        with (work / "id_prop.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            for mid, value in zip(ids, frame[prop].tolist(), strict=True):
                writer.writerow([mid, _number(value)])
        with (work / QUALITY_FILE).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["material_id", "quality", "reason"])
            for mid, level in zip(ids, levels, strict=True):
                writer.writerow([mid, level or "", "; ".join(reasons.get(mid, []))])
        (work / "atom_init.json").write_text(json.dumps(atom_init(sorted(elements))))
    return ExportCount(len(ids), left_out)


def _reasons(ids: list[str], column: str | None, uri: str | None) -> dict[str, list[str]]:
    """material_id → the reasons of the quality in ``column`` (``quality.<key>``)."""
    from htflow.db.collections import open_database

    if not ids or column is None:
        return {}
    key = column.split(".", 1)[1]
    out: dict[str, list[str]] = {}
    with open_database(uri) as (db, _):
        coll = db[MATERIALS_COLLECTION]
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            projection = {"material_id": 1, f"checks.{key}.reasons": 1, "_id": 0}
            for doc in coll.find({"material_id": {"$in": chunk}}, projection):
                found = ((doc.get("checks") or {}).get(key) or {}).get("reasons") or []
                out[doc["material_id"]] = [str(r) for r in found]
    return out


def _blank_suspect(
    frame: pd.DataFrame, covered: dict[str, str], include_suspect: bool
) -> tuple[pd.DataFrame, int]:
    """Suspect values become missing (their quality column stays); returns the count."""
    if include_suspect:
        return frame, 0
    left_out = 0
    for field, column in covered.items():
        mask = (frame[column] == SUSPECT) & frame[field].notna()
        left_out += int(mask.sum())
        if mask.any():
            frame[field] = frame[field].astype(object).where(~mask, None)
    return frame, left_out


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
    *,
    include_suspect: bool = False,
) -> ExportCount:
    """Write one extended-XYZ file: a frame per material, ``properties`` in its info line.

    Each property with a quality also gets ``<property>_quality`` (verified, checked,
    suspect) in the info line; a suspect value is left out unless ``include_suspect``.

    Returns
    -------
    ExportCount
        Number of frames written; ``.left_out``: suspect values left out.
    """
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    fields = ["material_id", *[p for p in properties if p != "material_id"]]
    check_fields(fields, criteria)
    for p in fields:
        if p not in SUMMARY_FIELDS:
            raise QueryError(f"cannot write {p!r} into extended XYZ: use scalar fields")
    covered = quality_columns(fields)
    extra = sorted(set(covered.values()) - set(fields))
    frame = query(criteria, fields + extra, uri=uri)
    if frame.empty:
        raise QueryError("no material matches the filter: nothing to export")
    frame, left_out = _blank_suspect(frame, covered, include_suspect)
    rows = frame.to_dict("records")
    by_id = {r["material_id"]: r for r in rows}
    with atomic_path(target, directory=False, overwrite=overwrite) as work:
        frames = []
        for mid, structure in _structures(list(by_id), uri):
            atoms = AseAtomsAdaptor.get_atoms(structure)
            row = by_id[mid]
            for key in fields:
                if _present(row[key]):
                    value = row[key]
                    atoms.info[key] = json.dumps(value) if isinstance(value, list) else value
                if key in covered and _present(row[covered[key]]):
                    atoms.info[f"{key}_quality"] = row[covered[key]]
            frames.append(atoms)
        write(work, frames, format="extxyz")
    return ExportCount(len(frames), left_out)


def _present(value: Any) -> bool:
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (pd.api.types.is_scalar(value) and pd.isna(value))


def export_parquet(
    target: str | Path,
    fields: list[str],
    criteria: dict[str, Any] | None = None,
    uri: str | None = None,
    overwrite: bool = False,
    *,
    include_suspect: bool = False,
) -> ExportCount:
    """Write the query's DataFrame to parquet (pyarrow); nested fields become JSON strings.

    ``material_id`` is always the first column (as in the other exports). A
    ``quality.<key>`` column is added for each quality key that covers an exported field;
    suspect values become null (their quality column still says suspect) unless
    ``include_suspect``.

    Returns
    -------
    ExportCount
        Number of rows written; ``.left_out``: suspect values set to null.
    """
    fields = ["material_id", *[f for f in fields if f != "material_id"]]
    covered = quality_columns(fields)
    extra = sorted(set(covered.values()) - set(fields))
    frame = query(criteria, fields + extra, uri=uri)
    frame, left_out = _blank_suspect(frame, covered, include_suspect)
    for column in frame.columns:
        if column not in SUMMARY_FIELDS:
            frame[column] = [
                json.dumps(v, default=str) if v is not None else None for v in frame[column]
            ]
    with atomic_path(target, directory=False, overwrite=overwrite) as work:
        frame.to_parquet(work, index=False)
    return ExportCount(len(frame), left_out)
