"""The embedded store's summary table: materials scalars as SQL columns, for fast queries.

litemongo decodes every BSON document a query touches and evaluates filters in Python
(about 0.1 ms per materials document, so 10 s for 100,000), and its indexes serve equality
only. The builder therefore also writes each material's scalar fields (``SUMMARY_FIELDS``)
into one SQLite table, one indexed column per field, and :func:`htflow.db.query.query`
translates a Mongo-style filter to SQL and reads only the projected columns. The table is
derived data: :func:`rebuild_summary` regenerates it from the materials collection.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.db.materials import SUMMARY_FIELDS, field_value

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from htflow.db.uri import DbTarget

TABLE = "materials_summary"


class Untranslatable(Exception):  # noqa: N818 - control flow, never shown to users
    """The filter uses something the SQL translation does not cover (use the documents)."""


def summary_path(target: DbTarget) -> Path:
    """``<db dir>/summary/<database>.sqlite`` (outside litemongo's collection directory)."""
    assert target.path is not None
    return target.path / "summary" / f"{target.database}.sqlite"


def _column(field: str) -> str:
    return field.replace(".", "__")


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.create_function("regexp", 2, _regexp, deterministic=True)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


def _create(con: sqlite3.Connection) -> None:
    cols = ", ".join(
        f"{_column(f)} {'TEXT' if t == 'JSON' else t}"
        + (" PRIMARY KEY" if f == "material_id" else "")
        for f, t in SUMMARY_FIELDS.items()
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols}, elements_key TEXT)")
    # a table from an older schema gets the new columns (NULL until its rows are rewritten:
    # the builder re-assembles every material once after a schema change)
    present = {row[1] for row in con.execute(f"PRAGMA table_info({TABLE})")}
    wanted = {_column(f): "TEXT" if t == "JSON" else t for f, t in SUMMARY_FIELDS.items()}
    for column, sql_type in {**wanted, "elements_key": "TEXT"}.items():
        if column not in present:
            con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {sql_type}")
    for field in SUMMARY_FIELDS:
        if field != "material_id":
            col = _column(field)
            con.execute(f"CREATE INDEX IF NOT EXISTS ix_{col} ON {TABLE} ({col})")


def _row(doc: dict[str, Any]) -> list[Any]:
    row = []
    for field, kind in SUMMARY_FIELDS.items():
        value = field_value(doc, field)
        row.append(json.dumps(value) if kind == "JSON" and value is not None else value)
    elements = doc.get("elements") or []
    row.append("-" + "-".join(elements) + "-")
    return row


def upsert_summary(target: DbTarget, docs: Iterable[dict[str, Any]]) -> None:
    """Insert or replace the summary rows of ``docs`` (materials documents as dicts)."""
    rows = [_row(d) for d in docs]
    if not rows:
        return
    names = [_column(f) for f in SUMMARY_FIELDS] + ["elements_key"]
    marks = ", ".join("?" for _ in names)
    with closing(_connect(summary_path(target))) as con, con:
        _create(con)
        con.executemany(
            f"INSERT OR REPLACE INTO {TABLE} ({', '.join(names)}) VALUES ({marks})", rows
        )


def rebuild_summary(target: DbTarget, docs: Iterable[dict[str, Any]]) -> int:
    """Replace the whole table by rows of ``docs``; return the number of rows."""
    with closing(_connect(summary_path(target))) as con, con:
        con.execute(f"DROP TABLE IF EXISTS {TABLE}")
        _create(con)
    n = 0
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == 5000:
            upsert_summary(target, batch)
            n += len(batch)
            batch = []
    upsert_summary(target, batch)
    return n + len(batch)


def has_summary(target: DbTarget) -> bool:
    """True when the summary table exists."""
    path = summary_path(target)
    if not path.exists():
        return False
    with closing(_connect(path)) as con:
        found = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)
        ).fetchone()
    return found is not None


def query_summary(
    target: DbTarget, criteria: dict[str, Any], fields: list[str], limit: int | None = None
) -> pd.DataFrame:
    """Run a Mongo-style filter on the summary table; only ``fields`` are read.

    Raises
    ------
    Untranslatable
        When a field or operator is not covered (the caller falls back to the documents).
    """
    import pandas as pd

    if any(f not in SUMMARY_FIELDS for f in fields):
        raise Untranslatable(fields)
    where, params = _translate(criteria)
    cols = ", ".join(_column(f) for f in fields)
    # Ordering by the primary key lets SQLite stop after LIMIT rows, but without a LIMIT it
    # walks the whole key index with a row lookup each (0.4 s at 100,000 for a LIKE or a
    # range): "+material_id" keeps the filter's own index (or a plain scan) and sorts after.
    order = "material_id" if limit or where == "1" else "+material_id"
    sql = f"SELECT {cols} FROM {TABLE} WHERE {where} ORDER BY {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with closing(_connect(summary_path(target))) as con:
        try:
            rows = con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:  # a table from an older schema: no column
            raise Untranslatable(str(exc)) from None
    frame = pd.DataFrame.from_records(rows, columns=fields)
    for field in fields:
        kind = SUMMARY_FIELDS[field]
        if kind == "JSON":
            frame[field] = [json.loads(v) if v is not None else None for v in frame[field]]
        elif kind == "BOOLEAN":
            frame[field] = frame[field].astype("boolean")
    return frame


def distinct_summary(target: DbTarget, field: str) -> list[Any]:
    """The distinct non-null values of one summary column (decoded like :func:`query_summary`)."""
    if field not in SUMMARY_FIELDS:
        raise Untranslatable(field)
    col = _column(field)
    with closing(_connect(summary_path(target))) as con:
        rows = con.execute(
            f"SELECT DISTINCT {col} FROM {TABLE} WHERE {col} IS NOT NULL ORDER BY {col}"
        ).fetchall()
    if SUMMARY_FIELDS[field] == "JSON":
        return [json.loads(r[0]) for r in rows]
    return [r[0] for r in rows]


def _regexp(pattern: str, value: Any) -> bool:
    # MongoDB's $regex: an unanchored search, on strings only (a NULL or a number never matches)
    return isinstance(value, str) and re.search(pattern, value) is not None


_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _translate(criteria: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in criteria.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise Untranslatable(key)
            parts = [_translate(c) for c in value]
            joiner = " AND " if key == "$and" else " OR "
            clauses.append("(" + joiner.join(f"({w})" for w, _ in parts) + ")")
            for _, p in parts:
                params += p
            continue
        if key.startswith("$") or key not in SUMMARY_FIELDS:
            raise Untranslatable(key)
        if isinstance(value, dict) and any(k.startswith("$") for k in value):
            for op, arg in value.items():
                clause, p = _condition(key, op, arg)
                clauses.append(clause)
                params += p
        else:
            clause, p = _condition(key, "$eq", value)
            clauses.append(clause)
            params += p
    return (" AND ".join(clauses) or "1"), params


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        raise Untranslatable(value)
    return value


def _condition(field: str, op: str, arg: Any) -> tuple[str, list[Any]]:
    col = _column(field)
    if field == "elements":
        return _elements_condition(op, arg)
    if op == "$eq":
        return (f"{col} IS NULL", []) if arg is None else (f"{col} = ?", [_scalar(arg)])
    if op == "$ne":
        if arg is None:
            return f"{col} IS NOT NULL", []
        return f"({col} IS NULL OR {col} != ?)", [_scalar(arg)]
    if op in _OPS:
        if arg is None or isinstance(arg, bool):
            raise Untranslatable(op)
        return f"{col} {_OPS[op]} ?", [_scalar(arg)]
    if op in ("$in", "$nin"):
        values = [_scalar(v) for v in arg]
        if any(v is None for v in values):
            raise Untranslatable(op)
        marks = ", ".join("?" for _ in values) or "NULL"
        if op == "$in":
            return f"{col} IN ({marks})", values
        return f"({col} IS NULL OR {col} NOT IN ({marks}))", values
    if op == "$exists":
        return (f"{col} IS NOT NULL" if arg else f"{col} IS NULL"), []
    if op == "$regex" and isinstance(arg, str) and SUMMARY_FIELDS[field] == "TEXT":
        return f"{col} REGEXP ?", [arg]
    if op == "$not" and isinstance(arg, dict) and len(arg) == 1:
        # MongoDB's $not matches every document the inner condition does not, including
        # those where the field is null (where the inner SQL may be NULL rather than false)
        inner, params = _condition(field, *next(iter(arg.items())))
        return f"NOT COALESCE(({inner}), 0)", params
    raise Untranslatable(op)


def _elements_condition(op: str, arg: Any) -> tuple[str, list[Any]]:
    # elements_key is "-C-Si-": containment of one element is a LIKE on "-Si-".
    if op == "$eq" and isinstance(arg, str):
        return "elements_key LIKE ?", [f"%-{arg}-%"]
    if (
        op in ("$all", "$in", "$nin")
        and isinstance(arg, list)
        and all(isinstance(a, str) for a in arg)
    ):
        parts = ["elements_key LIKE ?" for _ in arg]
        params = [f"%-{a}-%" for a in arg]
        if op == "$all":
            return "(" + (" AND ".join(parts) or "1") + ")", params
        if op == "$in":
            return "(" + (" OR ".join(parts) or "0") + ")", params
        return "NOT (" + (" OR ".join(parts) or "0") + ")", params
    if op == "$size" and isinstance(arg, int):
        return "nelements = ?", [arg]
    raise Untranslatable(op)
