"""Whole-collection reads of a few fields, for read-only views polled while the agent writes.

:func:`scan` returns, for every document matching simple equality criteria, the values of
some dotted fields. On MongoDB it is an ordinary projected ``find``. On the embedded store it
reads the collection's SQLite file in one read transaction and decodes only the fields asked
for (:func:`htflow.db.embedded.raw_documents`), because a query through litemongo rebuilds
the collection's in-process indexes after every commit of the writer: with an agent busy on
10,000 Fireworks that is 0.8 s per query and per collection, against 0.1 s for a scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from htflow.db.uri import resolve

if TYPE_CHECKING:
    from collections.abc import Iterable

_MISSING = object()


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
        sub-document comes back as a lazily decoded read-only mapping: :func:`plain` makes
        it a dict.
    match
        Dotted path → value (equality) or ``{"$in": values}`` (a set is fastest); every
        entry must hold.
        None matches every document.

    Returns
    -------
    list of dict
        In natural (insertion) order.
    """
    fields = list(fields)
    criteria = dict(match or {})
    target = resolve(uri)
    if target.kind == "mongodb":
        from htflow.db.collections import open_database

        projection = {f: 1 for f in fields} | {"_id": 0}
        query = {
            k: {"$in": list(v["$in"])} if isinstance(v, Mapping) else v for k, v in criteria.items()
        }
        with open_database(uri) as (db, _):
            docs: Iterable[Mapping[str, Any]] = list(db[collection].find(query, projection))
    else:
        from htflow.db.embedded import raw_documents

        assert target.path is not None
        docs = raw_documents(target.path, target.database, collection)
    out = []
    for doc in docs:
        if not all(_matches(_get(doc, key), want) for key, want in criteria.items()):
            continue
        row = {}
        for name in fields:
            value = _get(doc, name)
            if value is not _MISSING:
                row[name] = value
        out.append(row)
    return out


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
