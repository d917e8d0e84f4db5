"""Storage behind one interface: a ``mongodb://`` URI in production, an embedded store otherwise.

Contract (implemented in :mod:`htflow.db.backends` and :mod:`htflow.db.lock`):

- ``get_launchpad(uri=None) -> fireworks.LaunchPad``
- ``get_jobstore(uri=None) -> jobflow.JobStore`` (docs store + a ``"data"`` store for large objects)
- ``writer_lock(uri=None)``: context manager held by the one writer (the agent)

``uri=None`` means ``get_settings().db_uri``, and when that is None the embedded store in
``get_settings().home / "db"``. See docs/storage.md.
"""

from __future__ import annotations

from typing import Any

from htflow.db.backends import (
    DatabaseUnreachableError,
    get_jobstore,
    get_launchpad,
    ready_fw_ids,
)
from htflow.db.lock import WriterLockError, lock_holder, writer_lock
from htflow.db.uri import DbTarget, redact, resolve

# The ML read API (htflow.db.access) imports pandas and pymatgen: load it on first use only.
_ACCESS = ("get_dos", "get_elastic", "get_structure", "query")


def __getattr__(name: str) -> Any:
    if name in _ACCESS:
        from htflow.db import access

        return getattr(access, name)
    raise AttributeError(f"module 'htflow.db' has no attribute {name!r}")


__all__ = [
    "DatabaseUnreachableError",
    "DbTarget",
    "WriterLockError",
    "get_dos",
    "get_elastic",
    "get_jobstore",
    "get_launchpad",
    "get_structure",
    "lock_holder",
    "query",
    "ready_fw_ids",
    "redact",
    "resolve",
    "writer_lock",
]
