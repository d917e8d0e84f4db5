"""The agent loop end to end on the local SLURM, with pure-Python jobs (no pw.x)."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING

import pytest

from htflow.agent import records
from htflow.agent.loop import Agent, AgentConfig, until_idle
from htflow.cluster import load_profile
from htflow.db import WriterLockError, get_jobstore, get_launchpad, writer_lock
from htflow.submit import submit_flow
from htflow.submit.inbox import queue_submission
from tests.agent.agent_helpers import agent_environment, start_agent, write_profile
from tests.agent.jobs import add, add_flow
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = pytest.mark.slurm


@pytest.fixture
def slurm_env(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> ClusterStatus:
    for key, value in agent_environment(local_slurm.slurm_conf, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    return local_slurm


def test_agent_runs_flows_packed_through_slurm(slurm_env: ClusterStatus, tmp_path: Path) -> None:
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    flows = [add_flow(i, 1, 1) for i in range(5)]
    for flow in flows:
        assert submit_flow(flow, lp).submitted
    profile = load_profile(
        write_profile(
            tmp_path, tasks_per_node=1, max_jobs_in_queue=2, calculations_per_allocation=4
        )
    )
    config = AgentConfig(profile=profile, agent_dir=tmp_path / "agent", db_uri=db)
    start = time.monotonic()
    with Agent(config) as agent:
        # The one writer: nobody else may take the lock while the agent runs.
        with pytest.raises(WriterLockError), writer_lock(db):
            pass
        queue_submission(flows[0], config.agent_dir)  # the same flow again: adds nothing
        report = agent.run(
            until=lambda r: until_idle(r) or time.monotonic() - start > 240, poll=0.3
        )
        allocs = list(records.allocations(agent.lp).find({}, {"_id": 0}))
    assert not report.busy
    states = [doc["state"] for doc in lp.fireworks.find({}, {"state": 1})]
    assert states == ["COMPLETED"] * 10
    store = get_jobstore(db)
    store.connect()
    for flow in flows:
        assert store.get_output(flow.jobs[1].uuid) == flow.jobs[0].function_args[0] + 2
    # Packed: the 5 first jobs went in 2 allocations of at most 4, not 5 jobs.
    assert all(len(a["launch_ids"]) <= 4 for a in allocs)
    assert len(allocs) < 10
    result = json.loads(
        next((config.agent_dir / "inbox" / "done").glob("*.result.json")).read_text()
    )
    assert result["submitted"] is False


def test_agent_subprocess_stops_cleanly_on_sigterm(
    slurm_env: ClusterStatus, tmp_path: Path
) -> None:
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    submit_flow(add(1, 2), lp)
    profile = write_profile(tmp_path, tasks_per_node=1)
    env = agent_environment(slurm_env.slurm_conf, tmp_path / "home")
    proc = start_agent(tmp_path / "agent", db, profile, env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if lp.fireworks.find_one({"state": "COMPLETED"}):
                break
            time.sleep(0.3)
        assert lp.fireworks.find_one({})["state"] == "COMPLETED"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # The lock was released: a new writer can take it at once.
    with writer_lock(db):
        pass
    log = (tmp_path / "agent" / "agent.log").read_text()
    assert "agent stopping" in log
    assert "writer lock released" in log
