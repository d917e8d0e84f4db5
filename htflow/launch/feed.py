"""The work queue of one allocation: how the agent feeds a running allocation more launches.

Each allocation directory holds ``queue.txt``: the launch directories the allocation runs, one
per line. The agent writes the first ones before ``sbatch`` and may append more while the
allocation is queued or running (a dependent Firework that became READY, a calculation that
was claimed after the allocation started). The worker takes directories from the file in order
and, when none is left, looks again before it leaves:

- while ``hold`` exists in the allocation directory (the agent expects more work: Fireworks
  are WAITING on running parents) it waits, idle for at most the ``idle_wait`` setting
  (``HTFLOW_IDLE_WAIT``, s);
- then it leaves. Each stream of the allocation holds a shared lock on ``streams.lock``
  while it reads; the last one to leave *closes* the queue: under an exclusive lock on
  ``queue.lock`` it checks for new lines one last time and creates ``queue.closed``. The
  agent appends only under the same lock and only to an open queue, so no launch is ever
  appended to an allocation that has stopped reading: the two sides agree on every line.

After each launch the worker appends a line to ``activity``. Between passes the agent only
compares the sizes of these files (and whether a queue closed), so it reacts to a finished
launch or an ending allocation within a fraction of a second without querying the database
and SLURM in every nap.

A launch the agent recorded for an allocation but never wrote to its queue (the agent killed
between the two) is requeued as a failure when the allocation ends, like any launch an
allocation did not finish.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

QUEUE_FILE = "queue.txt"
LOCK_FILE = "queue.lock"
CLOSED_FILE = "queue.closed"
HOLD_FILE = "hold"
STREAMS_LOCK = "streams.lock"
ACTIVITY_FILE = "activity"
# The environment variable of the ``idle_wait`` setting, which job scripts export.
IDLE_WAIT_ENV = "HTFLOW_IDLE_WAIT"
# A queue that closed this recently belongs to an allocation about to end: the agent keeps
# looking until SLURM agrees. Older closures are left to the regular poll.
ENDING_WINDOW = 60.0


@contextlib.contextmanager
def _locked(alloc_dir: Path) -> Iterator[None]:
    fd = os.open(alloc_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def queued(alloc_dir: str | Path) -> list[str]:
    """The launch directories in the allocation's queue, in order (none if no queue yet)."""
    path = Path(alloc_dir) / QUEUE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    # A line is complete once its newline is written; a torn last line is not read.
    lines = text.split("\n")[:-1]
    return [line for line in lines if line]


def is_closed(alloc_dir: str | Path) -> bool:
    """Whether the allocation's worker stopped reading its queue."""
    return (Path(alloc_dir) / CLOSED_FILE).exists()


def is_open(alloc_dir: str | Path) -> bool:
    """Whether the allocation has a queue its worker still reads (the agent may append)."""
    return (Path(alloc_dir) / QUEUE_FILE).exists() and not is_closed(alloc_dir)


def append(alloc_dir: str | Path, launch_dirs: Iterable[str | Path]) -> bool:
    """Append ``launch_dirs`` to the queue unless it is closed; True if they were appended."""
    alloc_dir = Path(alloc_dir)
    lines = "".join(f"{d}\n" for d in launch_dirs)
    with _locked(alloc_dir):
        if is_closed(alloc_dir):
            return False
        with open(alloc_dir / QUEUE_FILE, "a") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
    return True


def close(alloc_dir: str | Path, seen: Iterable[str]) -> bool:
    """Close the queue if it holds nothing beyond ``seen``; False if new lines arrived."""
    alloc_dir = Path(alloc_dir)
    known = set(seen)
    with _locked(alloc_dir):
        if any(line not in known for line in queued(alloc_dir)):
            return False
        (alloc_dir / CLOSED_FILE).touch()
    return True


class Reader:
    """One stream reading the queue; it holds a shared lock on ``streams.lock`` while it reads."""

    def __init__(self, alloc_dir: str | Path) -> None:
        self.alloc_dir = Path(alloc_dir)
        self._fd = os.open(self.alloc_dir / STREAMS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def leave(self, seen: Iterable[str]) -> bool:
        """Stop reading. False if this was the last reader and new lines arrived (read on).

        The last reader closes the queue (:func:`close`); any other reader simply leaves,
        since a stream still reading will see what the agent appends.
        """
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            return True
        if close(self.alloc_dir, seen):
            os.close(self._fd)
            return True
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        return False


def set_hold(alloc_dir: str | Path, hold: bool) -> None:
    """Tell the allocation's worker whether to wait for more work when its queue runs dry."""
    path = Path(alloc_dir) / HOLD_FILE
    if hold:
        path.touch()
    else:
        path.unlink(missing_ok=True)


def held(alloc_dir: str | Path) -> bool:
    """Whether the agent asked the worker to wait for more work."""
    return (Path(alloc_dir) / HOLD_FILE).exists()


def idle_wait() -> float:
    """Seconds a worker waits for more work while held (s): the ``idle_wait`` setting."""
    return get_settings().idle_wait


def note_activity(alloc_dir: str | Path, line: str) -> None:
    """Append ``line`` to the allocation's activity file (worker side, after each launch)."""
    with open(Path(alloc_dir) / ACTIVITY_FILE, "a") as handle:
        handle.write(line.rstrip("\n") + "\n")


def activity(alloc_dirs: Iterable[str | Path]) -> tuple[object, ...] | None:
    """What the agent compares between naps; None means "look now" (a queue just closed).

    Each directory contributes the size of its activity file, so any launch that finished
    changes the answer however coarse the file system's timestamps are.
    """
    sizes: list[int] = []
    for alloc_dir in alloc_dirs:
        path = Path(alloc_dir)
        try:
            closed = (path / CLOSED_FILE).stat().st_mtime
        except OSError:
            closed = None
        if closed is not None and time.time() - closed < ENDING_WINDOW:
            return None
        try:
            sizes.append((path / ACTIVITY_FILE).stat().st_size)
        except OSError:
            sizes.append(-1)
    return tuple(sizes)
