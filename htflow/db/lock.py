"""The single-writer lock: an ``fcntl`` lock the agent holds for its whole lifetime.

The kernel drops the lock when the holder dies (even by ``kill -9``), so there is never a
stale lock to clean up. The holder's pid is written into the file for the error message.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from htflow.db.uri import resolve
from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class WriterLockError(HtflowError):
    """Another process holds the database's writer lock."""


@contextmanager
def writer_lock(uri: str | None = None) -> Iterator[Path]:
    """Hold the database's single-writer lock for the duration of the ``with`` block.

    Parameters
    ----------
    uri
        Database URI (None: the configured one, see :func:`htflow.db.uri.resolve`).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    WriterLockError
        At once (no waiting) when another process holds the lock.
    """
    target = resolve(uri)
    path = target.lock_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            who = f"pid {holder}" if holder else "unknown pid"
            raise WriterLockError(
                f"another htflow agent ({who}) holds the database lock on {target.redacted}: "
                "stop it (htflow agent stop) or use it instead of starting a second one"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(uri: str | None = None) -> int | None:
    """Return the pid holding the writer lock, or None when nobody holds it."""
    path = resolve(uri).lock_path
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
