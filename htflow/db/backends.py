"""``get_launchpad`` and ``get_jobstore`` for both backends (MongoDB and the embedded store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.db.uri import DbTarget, resolve
from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore

# jobflow/atomate2 conventions: task documents in "outputs", large objects in the "data" store.
DOCS_COLLECTION = "outputs"
DATA_COLLECTION = "outputs_blobs"
DATA_STORE_NAME = "data"
SERVER_SELECTION_TIMEOUT_MS = 3000


class DatabaseUnreachableError(HtflowError):
    """The MongoDB server named by the URI cannot be reached."""


def get_launchpad(uri: str | None = None) -> LaunchPad:
    """Open the FireWorks LaunchPad of the configured (or given) database.

    A new, empty database is initialised (id counters and indexes); an existing one is opened
    as it is, so readers never write to a store that has data.

    Parameters
    ----------
    uri
        ``mongodb://…``, ``mongodb+srv://…``, ``file:///dir`` or a directory path; None means
        ``get_settings().db_uri``, and when that is None the embedded store in ``home/db``.

    Returns
    -------
    fireworks.LaunchPad
    """
    from fireworks import LaunchPad

    target = resolve(uri)
    if target.kind == "mongodb":
        _check_reachable(target)
        lp = LaunchPad(
            host=target.uri,
            uri_mode=True,
            name=target.database,
            strm_lvl="WARNING",
            mongoclient_kwargs={"serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS},
        )
    else:
        from htflow.db.embedded import apply_patches

        apply_patches()
        lp = LaunchPad(host=target.uri, uri_mode=True, name=target.database, strm_lvl="WARNING")
    _initialise_if_new(lp)
    return lp


def get_jobstore(uri: str | None = None) -> JobStore:
    """Return the jobflow JobStore: task documents plus a ``"data"`` store for large objects.

    With MongoDB the data store is GridFS, so DOS and band structures never hit the 16 MB
    document limit. The store is not connected yet (jobflow connects it when it runs).

    Parameters
    ----------
    uri
        As for :func:`get_launchpad`.
    """
    from jobflow import JobStore

    target = resolve(uri)
    docs, data = _stores(target)
    return JobStore(docs_store=docs, additional_stores={DATA_STORE_NAME: data})


def _stores(target: DbTarget) -> tuple[Any, Any]:
    if target.kind == "mongodb":
        from maggma.stores import GridFSStore, MongoStore

        _check_reachable(target)
        client_kwargs = {"serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS}
        docs = MongoStore(
            target.database, DOCS_COLLECTION, uri=target.uri, mongoclient_kwargs=client_kwargs
        )
        data = GridFSStore(
            target.database, DATA_COLLECTION, uri=target.uri, mongoclient_kwargs=client_kwargs
        )
        return docs, data
    from htflow.db.embedded import EmbeddedStore

    assert target.path is not None
    where = str(target.path)
    return (
        EmbeddedStore(DOCS_COLLECTION, where, target.database),
        EmbeddedStore(DATA_COLLECTION, where, target.database),
    )


def _check_reachable(target: DbTarget) -> None:
    """Fail fast, in one line, when the MongoDB server cannot be reached."""
    import pymongo
    from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

    try:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            target.uri,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            connectTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        )
        try:
            client[target.database].command("ping")
        finally:
            client.close()
    except OperationFailure as exc:
        raise DatabaseUnreachableError(
            f"MongoDB at {_host(target)} refused access (code {exc.code}): "
            "check the user name and password in the URI"
        ) from None
    except (ConfigurationError, ValueError) as exc:
        raise DatabaseUnreachableError(
            f"invalid MongoDB URI {target.redacted} ({_one_line(exc, target)}): fix HTFLOW_DB_URI"
        ) from None
    except PyMongoError as exc:
        raise DatabaseUnreachableError(
            f"cannot reach MongoDB at {_host(target)} ({_one_line(exc, target)}): "
            "check the URI or start the server"
        ) from None


def _host(target: DbTarget) -> str:
    rest = target.uri.split("://", 1)[1].split("/", 1)[0]
    return rest.rsplit("@", 1)[-1]


def _one_line(exc: Exception, target: DbTarget) -> str:
    text = str(exc).split("\n", 1)[0].split(", Timeout:", 1)[0]
    text = text.split(" (configured timeouts", 1)[0]
    host = _host(target)
    text = text.removeprefix(f"{host}: ")
    text = text.replace(target.uri, target.redacted)
    if len(text) > 160:
        text = text[:157] + "..."
    return text


def _initialise_if_new(lp: LaunchPad) -> None:
    """Give a brand-new database FireWorks' id counters and indexes (what ``lpad reset`` does)."""
    if lp.fw_id_assigner.find_one({}) is not None:
        return
    if lp.fireworks.find_one({}, {"_id": 1}) is not None:
        raise HtflowError(
            f"LaunchPad database {lp.name!r} has Fireworks but no id counters: "
            "it was not created by FireWorks/htflow; point HTFLOW_DB_URI elsewhere"
        )
    lp._restart_ids(1, 1)
    lp.tuneup(bkground=False)


def ready_fw_ids(lp: LaunchPad, limit: int, query: dict[str, Any] | None = None) -> list[int]:
    """Return up to ``limit`` READY fw_ids in FireWorks' claim order (priority, then FIFO).

    One query for a whole batch: claim each with ``lp.reserve_fw(fworker, dir, fw_id=i)``
    (milliseconds) instead of calling ``reserve_fw`` without an id per claim, which sorts every
    READY Firework each time (about 1 s with 20,000 READY on the embedded store). Uses the
    collection directly because ``LaunchPad.get_fw_ids(sort=...)`` builds an aggregation with
    ``$dateFromString``, which mongomock (the embedded query engine) does not implement.

    Parameters
    ----------
    lp
        The LaunchPad.
    limit
        Maximum number of ids (> 0).
    query
        Extra conditions on the Firework documents (e.g. a FWorker's query).
    """
    from pymongo import ASCENDING, DESCENDING

    criteria = dict(query or {})
    criteria["state"] = "READY"
    cursor = lp.fireworks.find(
        criteria,
        {"fw_id": 1, "_id": 0},
        sort=[("spec._priority", DESCENDING), ("created_on", ASCENDING)],
        limit=limit,
    )
    return [doc["fw_id"] for doc in cursor]
