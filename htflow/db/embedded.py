"""The embedded store: litemongo (SQLite WAL files, mongomock queries) for FireWorks and maggma.

This is the ONLY module that touches litemongo or FireWorks internals. Each patch below says
what it works around; all of them should go upstream (see docs/storage.md, "Upstream bugs").

Layout on disk: ``<db dir>/<database>/<collection>`` is one SQLite file per collection (plus
its ``-wal``/``-shm`` side files); ``<db dir>/writer.lock`` is the single writer's lock.
Every acknowledged write is one committed SQLite transaction in WAL mode, so a ``kill -9`` of
the writer at any moment loses nothing that was acknowledged, and readers in other processes
see each commit as soon as it is made.
"""

from __future__ import annotations

import functools
import importlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from maggma.stores import MemoryStore

if TYPE_CHECKING:
    from collections.abc import Callable

# Untyped third-party internals, loaded as Any on purpose: this module is their only user.
_fw_launchpad: Any = importlib.import_module("fireworks.core.launchpad")
_litemongo_client: Any = importlib.import_module("litemongo.client")
_sqlite_store: Any = importlib.import_module("litemongo.sqlite_store")
_litemongo_gridfs: Any = importlib.import_module("litemongo._vendor.mongomock.gridfs")

EMBEDDED_SCHEME = "file://"

_patch_lock = threading.Lock()
_patched = False


def apply_patches() -> None:
    """Apply the three patches that make FireWorks run on litemongo (idempotent)."""
    global _patched  # noqa: PLW0603 - a process-wide, apply-once switch
    with _patch_lock:
        if _patched:
            return
        _patch_gridfs()
        _patch_launchpad_client()
        _patch_sqlite_threads()
        _patched = True


def _patch_gridfs() -> None:
    # Patch 1 (gridfs integration). LaunchPad.__init__ builds gridfs.GridFS(self.db, ...) for
    # oversized FWActions; gridfs checks isinstance(db, pymongo.Database) and rejects mongomock
    # databases. mongomock's enable_gridfs_integration() widens those isinstance checks to
    # (pymongo type, mongomock type); real pymongo objects still pass. Upstream: FireWorks could
    # build its GridFS lazily (only when an action is too large) and litemongo could enable
    # the integration itself.
    _litemongo_gridfs.enable_gridfs_integration()


# Extra host prefixes -> client factories (benchmarks put FireWorks on mongomock this way).
_CLIENT_FACTORIES: dict[str, Callable[[str], Any]] = {}


def register_client_factory(prefix: str, factory: Callable[[str], Any]) -> None:
    """Make ``LaunchPad(host="<prefix>…", uri_mode=True)`` use ``factory(host)`` as its client."""
    apply_patches()
    _CLIENT_FACTORIES[prefix] = factory


def _embedded_aware_client(host: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``MongoClient`` replacement for FireWorks: ``file://`` hosts open the embedded store."""
    if isinstance(host, str):
        if host.startswith(EMBEDDED_SCHEME):
            return open_client(Path(host[len(EMBEDDED_SCHEME) :]))
        for prefix, factory in _CLIENT_FACTORIES.items():
            if host.startswith(prefix):
                return factory(host)
    return pymongo.MongoClient(host, *args, **kwargs)


def _patch_launchpad_client() -> None:
    # Patch 2 (the MongoClient). LaunchPad.__init__ calls the module-level name MongoClient
    # (imported from pymongo) with no way to pass a client in. Replacing that name with a
    # dispatcher lets ``LaunchPad(host="file:///dir", uri_mode=True, name=...)`` open the embedded
    # store, and keeps LaunchPad.to_dict()/from_dict() round trips working (the dashboard and
    # FireWorks' own tools rebuild LaunchPads from dicts). Any other host goes to pymongo
    # unchanged. Upstream: FireWorks could accept a client (or a client factory) argument.
    _fw_launchpad.MongoClient = _embedded_aware_client


def _patch_sqlite_threads() -> None:
    # Patch 3 (the ping thread). FireWorks' Rocket pings the LaunchPad from a background thread,
    # and Flask (the web GUI) serves requests from worker threads, but Python's sqlite3 binds a
    # connection to the thread that created it ("SQLite objects created in a thread can only be
    # used in that same thread"). Open the connections with check_same_thread=False and serialise
    # the methods that share litemongo's single cursor per collection with one re-entrant lock
    # (SQLite itself runs in serialized mode). Upstream: litemongo should do this.
    original_connect = sqlite3.connect

    def connect(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("check_same_thread", False)
        return original_connect(path, *args, **kwargs)

    # litemongo's sqlite_store calls ``sqlite3.connect``: give that module (only) a stand-in.
    _sqlite_store.sqlite3 = _SqliteShim(connect)

    for cls in (_sqlite_store.TableDict, _sqlite_store.IndexDict):
        for name in (
            "__len__",
            "__bool__",
            "__contains__",
            "__getitem__",
            "__setitem__",
            "__delitem__",
            "_get_cache",
        ):
            method = cls.__dict__.get(name)
            if method is not None:
                setattr(cls, name, _locked(method))
        method = cls.__dict__.get("get_many_encoded")
        if method is not None:
            cls.get_many_encoded = _locked_list(method)


class _SqliteShim:
    """Stands in for the ``sqlite3`` module inside litemongo while a collection file opens."""

    def __init__(self, connect: Any) -> None:
        self.connect = connect

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)


# One process-wide re-entrant lock for the statements that use litemongo's shared cursors.
# Per-connection locks would allow more parallelism, but the GIL serialises this work anyway.
_SQLITE_LOCK = threading.RLock()


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _SQLITE_LOCK:
            return method(self, *args, **kwargs)

    return wrapper


def _locked_list(method: Any) -> Any:
    # get_many_encoded is a generator that reuses the shared cursor between yields: materialise
    # it under the lock so another thread cannot run a statement on that cursor mid-iteration.
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _SQLITE_LOCK:
            docs = list(method(self, *args, **kwargs))
        yield from docs

    return wrapper


def open_client(path: Path) -> Any:
    """Open a litemongo client on the store directory ``path`` (created if missing)."""
    apply_patches()
    path.mkdir(parents=True, exist_ok=True)
    return _litemongo_client.MongoClient(_sqlite_store.ServerStore(path))


def document_rows(path: Path, database: str, collection: str) -> list[tuple[int, bytes]]:
    """Every document of one embedded collection as ``(rowid, BSON bytes)``, without litemongo.

    One read-only SQLite transaction (a consistent snapshot while the writer commits) over
    litemongo's ``documents`` table, in insertion order. An update keeps a document's rowid
    (litemongo upserts on its ``_id`` key), so a reader can tell which documents changed by
    comparing bytes. Through litemongo, every query after a commit by another process first
    rebuilds the collection's in-process hash indexes (a full decode) and then decodes every
    document again to match it: 0.8 s at 10,000 Fireworks (``benchmarks/dashboard.py``).
    An absent collection has no documents.
    """
    file = path / database / collection
    if not file.is_file():
        return []
    con = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)
    try:
        rows: list[tuple[int, bytes]] = con.execute(
            "SELECT rowid, doc FROM documents ORDER BY rowid"
        ).fetchall()
    except sqlite3.OperationalError:  # created by litemongo but never written
        return []
    finally:
        con.close()
    return rows


def documents_by_id(
    path: Path, database: str, collection: str, ids: list[Any]
) -> dict[Any, dict[str, Any]]:
    """The documents of one embedded collection with these ``_id`` values, without litemongo.

    Like :func:`document_rows`, one read-only SQLite transaction that never goes through
    litemongo's in-process indexes (a full decode after every commit of the writer): a
    lookup of a page of 100 documents costs the same at 100 or 100,000 documents. Returns
    ``{_id: document}``; ids without a document are left out.
    """
    import bson

    file = path / database / collection
    if not ids or not file.is_file():
        return {}
    con = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM info WHERE key = 'key_format'").fetchone()
        # a file with data but no recorded format is litemongo's legacy format
        typed = row is not None and row[0] == _sqlite_store.KEY_FORMAT_TYPED
        encode = _sqlite_store._encode_key_typed if typed else _sqlite_store._encode_key_legacy
        keys = {encode(i): i for i in ids}
        found: dict[Any, dict[str, Any]] = {}
        names = list(keys)
        for start in range(0, len(names), 500):  # SQLite's limit on bound parameters
            chunk = names[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in con.execute(
                f"SELECT _id, doc FROM documents WHERE _id IN ({marks})",
                chunk,
            ):
                found[keys[key]] = bson.decode(blob)
    except sqlite3.OperationalError:  # created by litemongo but never written
        return {}
    finally:
        con.close()
    return found


def count_documents(path: Path, database: str, collection: str) -> int:
    """The number of documents in one embedded collection (0 when absent), without litemongo."""
    file = path / database / collection
    if not file.is_file():
        return 0
    con = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


class EmbeddedStore(MemoryStore):
    """A maggma Store on one collection of the embedded (litemongo) store.

    It serialises (``as_dict``) to its directory, database and collection names, so a JobStore
    sent to another process reopens the same files.

    Parameters
    ----------
    collection_name
        Collection (one SQLite file).
    database_path
        Directory of the embedded store.
    database_name
        Database (a subdirectory of ``database_path``).
    """

    def __init__(
        self,
        collection_name: str,
        database_path: str,
        database_name: str = "htflow",
        **kwargs: Any,
    ) -> None:
        self.database_path = str(database_path)
        self.database_name = database_name
        super().__init__(collection_name=collection_name, **kwargs)
        self.ssh_tunnel = None  # MongoStore.close looks at it

    def connect(self, force_reset: bool = False) -> None:
        """Open the collection (a no-op when already open, unless ``force_reset``)."""
        if self._coll is None or force_reset:
            client = open_client(Path(self.database_path))
            self._coll = client[self.database_name][self.collection_name]

    def close(self) -> None:
        """Close the SQLite connections of this store."""
        if self._coll is not None:
            self._coll.database.client.close()
        self._coll = None

    @property
    def name(self) -> str:
        """``file://<dir>/<database>/<collection>``."""
        return f"{EMBEDDED_SCHEME}{self.database_path}/{self.database_name}/{self.collection_name}"

    def __hash__(self) -> int:
        return hash((self.name, self.last_updated_field))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmbeddedStore):
            return False
        return (self.name, self.last_updated_field) == (other.name, other.last_updated_field)
