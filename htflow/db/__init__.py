"""Storage behind one interface: a ``mongodb://`` URI in production, an embedded store otherwise.

Contract (implemented in :mod:`htflow.db.backends` and :mod:`htflow.db.lock`):

- ``get_launchpad(uri=None) -> fireworks.LaunchPad``
- ``get_jobstore(uri=None) -> jobflow.JobStore`` (docs store + a ``"data"`` store for large objects)
- ``writer_lock(uri=None)``: context manager held by the one writer (the agent)

``uri=None`` means ``get_settings().db_uri``, and when that is None the embedded store in
``get_settings().home / "db"``. See docs/storage.md.
"""

from __future__ import annotations

from htflow.db.backends import (
    DatabaseUnreachableError,
    get_jobstore,
    get_launchpad,
    ready_fw_ids,
)
from htflow.db.lock import WriterLockError, lock_holder, writer_lock
from htflow.db.uri import DbTarget, redact, resolve

__all__ = [
    "DatabaseUnreachableError",
    "DbTarget",
    "WriterLockError",
    "get_jobstore",
    "get_launchpad",
    "lock_holder",
    "ready_fw_ids",
    "redact",
    "resolve",
    "writer_lock",
]
