"""Daemons started and stopped by pid: pid files, liveness, a cross-process lock.

Services are never found or stopped by process name (no ``pkill``): another user's, or
another test run's, munged or slurmd on the same machine must stay untouched. A pid is
trusted only while ``/proc/<pid>/comm`` still names the program we started, so a pid
reused by an unrelated process after a reboot is never signalled.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence


class LocalClusterError(HtflowError):
    """The local SLURM (or one of its daemons) could not be started or stopped."""


@dataclass(frozen=True)
class Daemon:
    """A daemon we start: its name, the pid file it writes and the names its process may have."""

    name: str
    pid_file: Path
    comm_names: tuple[str, ...]

    def pid(self) -> int | None:
        """The live pid of this daemon, or None when it is not running."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if process_matches(pid, self.comm_names) else None

    def running(self) -> bool:
        """True while the daemon's pid is alive."""
        return self.pid() is not None


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def process_matches(pid: int, comm_names: Sequence[str]) -> bool:
    """True when ``pid`` is alive (not a zombie) and its ``comm`` is one of ``comm_names``."""
    proc = Path(f"/proc/{pid}")
    try:
        comm = (proc / "comm").read_text().strip()
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and comm in comm_names


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    """Poll ``condition`` every 0.1 s until it holds; LocalClusterError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    hint = f": see {log}" if log is not None else ""
    raise LocalClusterError(f"{what} did not happen within {timeout:.0f} s{hint}")


def start_daemon(
    argv: Sequence[str], env: Mapping[str, str], log: Path, detach: bool = False
) -> None:
    """Run a daemon's start command with stdio on ``log``.

    Daemons that fork by themselves return at once; ``detach`` runs a foreground program
    (mysqld) through ``setsid -f`` so it leaves our process tree and is reaped by init.
    """
    command = ["setsid", "-f", *argv] if detach else list(argv)
    with log.open("ab") as out:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            check=False,
            timeout=60,
        )
    if result.returncode != 0:
        raise LocalClusterError(f"{argv[0]} failed to start (exit {result.returncode}): see {log}")


def stop_daemon(daemon: Daemon, timeout: float = 20.0) -> bool:
    """SIGTERM the daemon by pid, SIGKILL after ``timeout`` s; True if it was running."""
    pid = daemon.pid()
    if pid is None:
        daemon.pid_file.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_matches(pid, daemon.comm_names):
        time.sleep(0.1)
    if process_matches(pid, daemon.comm_names):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    daemon.pid_file.unlink(missing_ok=True)
    return True


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, held across processes (up/down never interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
