"""Helpers for the agent tests: a test cluster profile, the local SLURM, an agent subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from htflow.cluster.profile import PROFILE_DIR
from htflow.settings import DEFAULT_INBOX_TRUSTED_MODULES

if TYPE_CHECKING:
    from collections.abc import Mapping

REPO = Path(__file__).resolve().parents[2]


# The test flows are made of tests.agent.jobs functions: the agent must trust them.
TEST_TRUSTED_MODULES = json.dumps([*DEFAULT_INBOX_TRUSTED_MODULES, "tests"])


def write_profile(directory: Path, base: str = "local", **overrides: Any) -> Path:
    """Profile ``base`` with ``overrides`` (e.g. 1 task per allocation) written to ``directory``."""
    data = yaml.safe_load((PROFILE_DIR / f"{base}.yaml").read_text())
    resources = overrides.pop("resources", None)
    data.update(overrides)
    if resources is not None:
        data["resources"] = resources
    data["name"] = "agent-test"
    path = directory / "agent-test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def agent_environment(
    slurm_conf: Path, home: Path, extra: Mapping[str, str] = ()
) -> dict[str, str]:
    """Environment of an agent subprocess: the test SLURM, a test home, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTFLOW_", "SLURM_"))}
    env.update(
        SLURM_CONF=str(slurm_conf),
        HTFLOW_HOME=str(home),
        HTFLOW_CONFIG_FILE=str(home / "absent.yaml"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        HTFLOW_INBOX_TRUSTED_MODULES=TEST_TRUSTED_MODULES,
    )
    env.update(dict(extra))
    return env


def use_agent_environment(monkeypatch: Any, slurm_conf: Path, home: Path) -> None:
    """Run an agent in this process against the test SLURM and home (no configured database)."""
    for key, value in agent_environment(slurm_conf, home).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)


def start_agent(
    agent_dir: Path, db_uri: str, profile: Path, env: Mapping[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    """``python -m htflow.cli.agent run`` in a subprocess logging to ``agent_dir/agent.log``."""
    agent_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "htflow.cli.agent",
        "run",
        "--agent-dir",
        str(agent_dir),
        "--db",
        db_uri,
        "--profile",
        str(profile),
        "--poll",
        "0.5",
        "--log-file",
        str(agent_dir / "agent.log"),
        *extra,
    ]
    with open(agent_dir / "agent.stderr", "ab") as err:
        return subprocess.Popen(argv, env=dict(env), stdout=err, stderr=err, cwd=agent_dir)
