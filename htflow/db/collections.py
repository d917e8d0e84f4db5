"""Raw collections of the configured database: pymongo on MongoDB, litemongo when embedded.

The materials layer (builders, query API, exports) works on plain collections with the
pymongo API, which both backends share; jobflow's JobStore stays the way to the data store
(GridFS on MongoDB), through :func:`htflow.db.get_jobstore`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from htflow.db.uri import DbTarget, resolve

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def open_database(uri: str | None = None) -> Iterator[tuple[Any, DbTarget]]:
    """Yield ``(database, target)``: a pymongo-API database object, closed on exit.

    Parameters
    ----------
    uri
        As for :func:`htflow.db.get_jobstore`; an unreachable MongoDB gives a one-line
        :class:`~htflow.db.DatabaseUnreachableError`.
    """
    target = resolve(uri)
    if target.kind == "mongodb":
        import pymongo

        from htflow.db.backends import SERVER_SELECTION_TIMEOUT_MS, _check_reachable

        _check_reachable(target)
        client: Any = pymongo.MongoClient(
            target.uri, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
    else:
        from htflow.db.embedded import open_client

        assert target.path is not None
        client = open_client(target.path)
    try:
        yield client[target.database], target
    finally:
        client.close()
