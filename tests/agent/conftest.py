"""Fixtures for offline execution: an embedded store in tmp_path, and a worker with no database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore

REPO = Path(__file__).resolve().parents[2]
# What the agent's environment may hold; none of it may reach a launch directory.
SECRET_URI = "mongodb://htuser:s3cr3t-pw@127.0.0.1:1/htflow_secret_db"
SECRET_WORDS = ("s3cr3t-pw", "htuser", "127.0.0.1:1", "htflow_secret_db", "mongodb://")

# Run in the worker's interpreter: the run must not have imported the storage layer.
_WORKER = """
import sys
from htflow.launch.worker import main
status = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m.startswith(("htflow.db", "litemongo")))
if leaked:
    print("worker imported the storage layer:", leaked, file=sys.stderr)
    sys.exit(3)
sys.exit(status)
"""


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path}/db"


@pytest.fixture
def launchpad(db_uri: str) -> LaunchPad:
    from htflow.db import get_launchpad

    return get_launchpad(db_uri)


@pytest.fixture
def jobstore(db_uri: str) -> JobStore:
    from htflow.db import get_jobstore

    store = get_jobstore(db_uri)
    store.connect()
    return store


@pytest.fixture
def agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent process has a (secret) database URI in its environment."""
    monkeypatch.setenv("HTFLOW_DB_URI", SECRET_URI)


def worker_env(tmp_path: Path) -> dict[str, str]:
    """A compute node: the database URI is unreachable and the htflow home has no database."""
    home = tmp_path / "worker_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTFLOW_")}
    env.update(
        HTFLOW_DB_URI=SECRET_URI,
        HTFLOW_HOME=str(home),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OPENBLAS_NUM_THREADS="1",
        HTFLOW_MPI_LAUNCHER="none",
    )
    return env


def run_worker(tmp_path: Path, *launch_dirs: Path) -> subprocess.CompletedProcess[str]:
    """``python -m htflow.launch.worker`` equivalent in a subprocess with no database."""
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, *map(str, launch_dirs)],
        env=worker_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "worker_home" / "db").exists()
    return proc


def fw_states(launchpad: LaunchPad) -> dict[str, list[Any]]:
    """Firework states by name: {name: [state, …]}."""
    states: dict[str, list[Any]] = {}
    for doc in launchpad.fireworks.find({}, {"name": 1, "state": 1}):
        states.setdefault(doc["name"], []).append(doc["state"])
    return states
