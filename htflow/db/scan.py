"""Whole-collection reads of a few fields, for read-only views polled while the agent writes.

:func:`scan` returns, for every document matching simple equality criteria, the values of
some dotted fields. On MongoDB it is an ordinary projected ``find``. On the embedded store it
reads the collection's SQLite file directly (:func:`htflow.db.embedded.document_rows`),
because a query through litemongo rebuilds the collection's in-process indexes after every
commit of the writer: with an agent busy on 10,000 Fireworks that is 0.8 s per query and per
collection. The fields of each document are decoded once and kept with a hash of its bytes:
the next scan decodes only the documents whose bytes changed (a busy agent changes a few per
second).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from htflow.db.uri import resolve

if TYPE_CHECKING:
    from collections.abc import Iterable

_MISSING = object()
CACHED_SCANS = 32  # (collection file, fields) pairs whose decoded rows are kept


def scan(
    uri: str | None,
    collection: str,
    fields: Iterable[str],
    match: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each matching document as ``{dotted field: value}`` (a missing field is left out).

    Parameters
    ----------
    uri
        Database, as for :func:`htflow.db.get_launchpad`.
    collection
        Collection name in the LaunchPad's database (``fireworks``, ``launches``, …).
    fields
        Dotted paths to return, e.g. ``"spec.htflow_campaign"``. On the embedded store a
        sub-document comes back as a lazily decoded read-only mapping (:func:`plain` makes
        it a dict). Values may be shared between calls: do not modify them.
    match
        Dotted path → value (equality) or ``{"$in": values}`` (a set is fastest); every
        entry must hold. None matches every document.

    Returns
    -------
    list of dict
        In natural (insertion) order.
    """
    fields = list(fields)
    criteria = dict(match or {})
    target = resolve(uri)
    if target.kind == "mongodb":
        return _mongodb(uri, collection, fields, criteria)
    from htflow.db.embedded import document_rows

    assert target.path is not None
    wanted = tuple(dict.fromkeys([*fields, *criteria]))
    file = str(target.path / target.database / collection)
    rows = _ROWS.extract(file, wanted, document_rows(target.path, target.database, collection))
    out = []
    for row in rows:
        if all(_matches(row.get(key, _MISSING), want) for key, want in criteria.items()):
            out.append({name: row[name] for name in fields if name in row})
    return out


def _mongodb(
    uri: str | None, collection: str, fields: list[str], criteria: dict[str, Any]
) -> list[dict[str, Any]]:
    from htflow.db.collections import open_database

    projection = {f: 1 for f in fields} | {"_id": 0}
    query = {
        k: {"$in": list(v["$in"])} if isinstance(v, Mapping) else v for k, v in criteria.items()
    }
    with open_database(uri) as (db, _):
        docs = list(db[collection].find(query, projection))
    out = []
    for doc in docs:
        row = {}
        for name in fields:
            value = _get(doc, name)
            if value is not _MISSING:
                row[name] = value
        out.append(row)
    return out


class _RowCache:
    """Per (collection file, fields): rowid → (size and hash of its bytes, decoded fields).

    A 64-bit hash with the size, not the bytes themselves: the cache of 10,000 Fireworks is
    then a few MB instead of the collection's 25 MB for each set of fields.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], dict[int, Any]] = OrderedDict()

    def extract(
        self, file: str, fields: tuple[str, ...], rows: list[tuple[int, bytes]]
    ) -> list[dict[str, Any]]:
        from bson.raw_bson import RawBSONDocument

        key = (file, fields)
        with self._lock:
            old = self._entries.pop(key, {})
        new: dict[int, tuple[tuple[int, int], dict[str, Any]]] = {}
        out = []
        for rowid, blob in rows:
            stamp = (len(blob), hash(blob))
            hit = old.get(rowid)
            if hit is not None and hit[0] == stamp:
                values = hit[1]
            else:
                doc = RawBSONDocument(blob)
                values = {}
                for name in fields:
                    value = _get(doc, name)
                    if value is not _MISSING:
                        values[name] = value
            new[rowid] = (stamp, values)
            out.append(values)
        with self._lock:
            self._entries[key] = new
            while len(self._entries) > CACHED_SCANS:
                self._entries.popitem(last=False)
        return out


_ROWS = _RowCache()


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _matches(value: Any, want: Any) -> bool:
    if isinstance(want, Mapping) and set(want) == {"$in"}:
        try:
            return value is not _MISSING and value in want["$in"]
        except TypeError:  # an unhashable value against a set
            return False
    return value is not _MISSING and value == want


def plain(value: Any) -> Any:
    """A lazily decoded BSON value as plain dicts and lists (other values unchanged)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
