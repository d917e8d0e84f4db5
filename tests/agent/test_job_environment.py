"""The agent's jobs get an allowlisted environment: no secret of the agent reaches them.

A real agent pass on the local SLURM runs a pure-Python job that dumps its environment;
the agent's process holds secret-looking variables with unique values, and none of them
may appear in the job's environment nor in any file of the agent directory (job scripts,
SLURM output, launch directories) or of the SLURM state directory.
"""

from __future__ import annotations

import json
import secrets
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from htflow.agent.loop import Agent, AgentConfig, until_idle
from htflow.cluster import load_profile
from htflow.db import get_launchpad
from htflow.submit import submit_flow
from tests.agent.agent_helpers import REPO, agent_environment, write_profile
from tests.agent.env_jobs import ENV_FILE, dump_environment
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = pytest.mark.slurm

SECRET_NAMES = (
    "HTFLOW_DASHBOARD_PASSWORD",
    "MP_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "SOME_TOKEN",
    "MONGODB_URI",
)


def _files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        try:
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
        except OSError:  # removed while walking (other tests' jobs)
            continue
    return found


def test_agent_jobs_get_no_secret(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in agent_environment(local_slurm.slurm_conf, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    values = {name: f"leak-{name.lower()}-{secrets.token_hex(8)}" for name in SECRET_NAMES}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    assert submit_flow(dump_environment(), lp).submitted
    profile = load_profile(write_profile(tmp_path, tasks_per_node=1))
    agent_dir = tmp_path / "agent"
    config = AgentConfig(profile=profile, agent_dir=agent_dir, db_uri=db)
    start = time.monotonic()
    with Agent(config) as agent:
        agent.run(until=lambda r: until_idle(r) or time.monotonic() - start > 240, poll=0.3)
    assert [d["state"] for d in lp.fireworks.find({}, {"state": 1})] == ["COMPLETED"]

    dumps = list(agent_dir.rglob(ENV_FILE))
    assert len(dumps) == 1
    env = json.loads(dumps[0].read_text())
    assert not set(SECRET_NAMES) & set(env)
    # The worker ran (this checkout's htflow, the agent's home) inside a SLURM allocation.
    assert str(REPO) in env["PYTHONPATH"].split(":")
    assert env["HTFLOW_HOME"] == str(tmp_path / "home")
    for name in ("PATH", "HOME", "SLURM_JOB_ID", "HTFLOW_WALLTIME_END", "HTFLOW_PW_CMD"):
        assert env.get(name), name
    places = _files(agent_dir) + _files(Path(local_slurm.state_dir))
    assert any(p.name.startswith("slurm-") and p.suffix == ".out" for p in places)
    assert any(p.name == "htflow_job.sh" for p in places)
    for path in places:
        text = path.read_bytes().decode(errors="replace")
        leaked = [name for name, value in values.items() if value in text]
        assert not leaked, f"{path} holds the value of {leaked}"
