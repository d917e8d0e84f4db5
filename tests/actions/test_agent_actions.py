"""Actions through the real agent on the local SLURM: rerun, pause/resume, cancel.

The agent runs in a subprocess (``htflow.cli.agent run``) and holds the writer lock, so
every request goes through its inbox: ``send(..., wait=…)`` returns once the agent has
applied it. Loops poll the database until a state is reached; their deadlines only stop a
broken test from hanging, they are not measurements.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from htflow.actions import CancelRequest, PauseRequest, RerunRequest, ResumeRequest, send
from htflow.db import get_launchpad, records, writer_lock
from htflow.submit import submit_flow
from tests.actions.conftest import in_campaign, states
from tests.actions.jobs import fail_until, nap
from tests.agent.agent_helpers import agent_environment, start_agent, write_profile
from tests.agent.jobs import add
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = pytest.mark.slurm
GUARD = 300.0  # s: only so that a broken test does not hang


class RunningAgent:
    """An agent subprocess on the test SLURM, with its database and directory."""

    def __init__(self, tmp_path: Path, slurm: ClusterStatus) -> None:
        self.db = f"file://{tmp_path}/db"
        self.lp = get_launchpad(self.db)
        self.agent_dir = tmp_path / "agent"
        self.profile = write_profile(tmp_path, tasks_per_node=1, max_jobs_in_queue=2)
        self.env = agent_environment(slurm.slurm_conf, tmp_path / "home")
        self.proc: subprocess.Popen[bytes] | None = None

    def submit(self, *flows: Any) -> dict[str, int]:
        ids: dict[str, int] = {}
        with writer_lock(self.db):
            for flow in flows:
                ids.update(submit_flow(flow, self.lp).fw_ids)
        return ids

    def start(self) -> None:
        self.proc = start_agent(self.agent_dir, self.db, self.profile, self.env)
        self.until(
            lambda: (
                (self.agent_dir / "agent.log").exists()
                and "writer lock held" in (self.agent_dir / "agent.log").read_text()
            )
        )

    def send(self, request: Any) -> Any:
        return send(request, agent_dir=self.agent_dir, db_uri=self.db, wait=GUARD)

    def until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + GUARD
        while not condition():
            assert self.proc is None or self.proc.poll() is None, self.log_tail()
            assert time.monotonic() < deadline, "not reached; " + self.log_tail()
            time.sleep(0.3)

    def log_tail(self) -> str:
        log = self.agent_dir / "agent.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return "agent log tail:\n" + "\n".join(lines[-25:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for alloc in records.allocations(self.lp).find({"job_id": {"$ne": None}}):
            subprocess.run(
                ["scancel", str(alloc["job_id"])], env=self.env, check=False, capture_output=True
            )


@pytest.fixture
def agent(local_slurm: ClusterStatus, tmp_path: Path) -> Iterator[RunningAgent]:  # noqa: F811
    running = RunningAgent(tmp_path, local_slurm)
    try:
        yield running
    finally:
        running.stop()


def test_rerun_by_cause_brings_a_fizzled_firework_to_completed(
    agent: RunningAgent, tmp_path: Path
) -> None:
    marker = tmp_path / "ready"
    flaky = fail_until(str(marker))
    child = add(flaky.output, 1)
    ids = agent.submit(in_campaign("r", flaky, child))
    fw_id = ids[flaky.uuid]
    agent.start()
    agent.until(lambda: states(agent.lp)[fw_id] == "FIZZLED")
    [old_launch] = agent.lp.fireworks.find_one({"fw_id": fw_id})["launches"]
    marker.write_text("")

    outcome = agent.send(RerunRequest(campaign="r", cause="ValueError: not ready yet"))

    assert (outcome.status, outcome.fw_ids) == ("applied", [fw_id]), outcome.message
    agent.until(lambda: set(states(agent.lp).values()) == {"COMPLETED"})
    doc = agent.lp.fireworks.find_one({"fw_id": fw_id})
    assert doc["archived_launches"] == [old_launch]
    assert len(doc["launches"]) == 1 and doc["launches"] != [old_launch]
    assert agent.lp.launches.find_one({"launch_id": old_launch})["state"] == "FIZZLED"
    ran = sorted(r["launch_id"] for r in records.launches(agent.lp).find({"fw_id": fw_id}))
    assert ran == [old_launch, doc["launches"][0]]


def test_pause_stops_new_launches_and_resume_lets_them_run(agent: RunningAgent) -> None:
    held = agent.submit(in_campaign("p", add(1, 1)), in_campaign("p", add(2, 2)))
    free = agent.submit(in_campaign("q", add(3, 3)), in_campaign("q", add(4, 4)))
    paused = send(PauseRequest(campaign="p"), db_uri=agent.db)  # no agent yet: applied now
    assert paused.status == "applied" and paused.n_fireworks == 2
    agent.start()
    agent.until(lambda: set(states(agent.lp, "q").values()) == {"COMPLETED"})
    # q ran through claims, allocations and ingestion; p was skipped at every claim.
    assert set(states(agent.lp, "p").values()) == {"READY"}
    assert records.launches(agent.lp).count_documents({"fw_id": {"$in": list(held.values())}}) == 0
    assert len(free) == 2

    resumed = agent.send(ResumeRequest(campaign="p"))

    assert resumed.status == "applied", resumed.message
    agent.until(lambda: set(states(agent.lp, "p").values()) == {"COMPLETED"})


def test_cancel_scancels_an_allocation_running_only_the_campaign(agent: RunningAgent) -> None:
    long = nap(600)
    ids = agent.submit(in_campaign("x", long))
    fw_id = ids[long.uuid]
    agent.start()
    agent.until(lambda: states(agent.lp)[fw_id] == "RUNNING")

    outcome = agent.send(CancelRequest(campaign="x"))

    assert outcome.status == "applied", outcome.message
    assert "1 allocations cancelled" in outcome.message
    agent.until(lambda: states(agent.lp)[fw_id] == "FIZZLED")
    [launch] = list(records.launches(agent.lp).find({"fw_id": fw_id}))
    assert launch["done"] and "campaign x cancelled by" in launch["cancelled"]
    [alloc] = list(records.allocations(agent.lp).find({}))  # the fizzled launch left it
    assert launch["launch_id"] in alloc["launch_ids"]
    assert alloc["slurm_state"] == "CANCELLED"
    fw = agent.lp.get_fw_by_id(fw_id)
    assert "campaign x cancelled by" in fw.launches[-1].action.stored_data["_message"]
    assert len(fw.launches) == 1 and not fw.archived_launches  # not requeued
