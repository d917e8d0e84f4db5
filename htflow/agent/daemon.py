"""Running the agent detached: start, stop (by pid) and status.

``start`` runs ``python -m htflow.cli.agent run`` in a new session (no controlling terminal,
survives the shell), with its output in ``<agent dir>/agent.log``. The running agent writes
its pid to ``<agent dir>/agent.pid`` once it holds the writer lock, and removes it on a clean
exit. ``stop`` sends SIGTERM to that pid and waits: the agent finishes the ingestion in
progress and releases the lock. The writer lock, not the pid file, is the truth about
whether an agent runs (a kill -9 leaves the file but not the lock).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from htflow.cluster.daemons import pid_alive
from htflow.exceptions import HtflowError

PID_FILE = "agent.pid"
LOG_FILE = "agent.log"


class AgentNotRunningError(HtflowError):
    """No agent runs for this directory."""


def read_pid(agent_dir: Path) -> int | None:
    """The pid in the pid file, if that process is alive."""
    try:
        pid = int((agent_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def start_detached(run_args: list[str], agent_dir: Path, timeout: float = 60.0) -> int:
    """Start ``htflow agent run <run_args>`` detached; return its pid once it holds the lock.

    Raises
    ------
    HtflowError
        The agent exited at once (e.g. another agent holds the lock); the message quotes the
        last line of its log.
    """
    agent_dir.mkdir(parents=True, exist_ok=True)
    (agent_dir / PID_FILE).unlink(missing_ok=True)
    log = agent_dir / LOG_FILE
    with open(log, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "htflow.cli.agent", "run", *run_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = read_pid(agent_dir)
        if pid == proc.pid:
            return pid
        if proc.poll() is not None:
            last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise HtflowError(f"the agent exited at once (status {proc.returncode}): {last}")
        time.sleep(0.1)
    raise HtflowError(f"the agent did not start within {timeout:.0f} s: see {log}")


def stop(agent_dir: Path, timeout: float = 300.0) -> int:
    """SIGTERM the agent and wait until it has exited; return its pid.

    Raises
    ------
    AgentNotRunningError
        No live agent pid in ``agent_dir``.
    HtflowError
        It did not exit within ``timeout`` seconds.
    """
    pid = read_pid(agent_dir)
    if pid is None:
        raise AgentNotRunningError(f"no agent runs for {agent_dir} (no live pid in {PID_FILE})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return pid
        time.sleep(0.2)
    raise HtflowError(f"agent pid {pid} did not stop within {timeout:.0f} s: kill -9 {pid}")
