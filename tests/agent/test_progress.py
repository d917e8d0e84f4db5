"""The agent's one-line status where there is no terminal (htflow.agent.progress).

The formatting and the throttle are pure (a test clock); the loop test shows the status is
asked for while the agent naps; the SLURM tests read the lines `htflow agent run` and the
demo's agent print with stdout redirected. No test asserts on time beyond "a line appeared".
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from htflow.agent.loop import Agent, AgentConfig
from htflow.agent.progress import ProgressReporter, format_elapsed, status_line
from htflow.cli.demo_run import run_agent_until_done
from htflow.cluster import load_profile
from htflow.db import get_launchpad
from htflow.launch.spec import CAMPAIGN_KEY
from htflow.settings import settings_env
from htflow.submit import submit_flow
from tests.agent.agent_helpers import agent_environment, write_profile
from tests.agent.jobs import add, add_flow
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

STATUS = re.compile(r"^htflow agent: \d+:\d\d:\d\d elapsed; fireworks (\d+): (.*)$")


def test_status_line_counts_states_and_names_running() -> None:
    line = status_line(
        {"COMPLETED": 10, "RUNNING": 2, "READY": 5, "WAITING": 3, "FIZZLED": 0},
        ["GaAs static", "Si relax"],
        3723.9,
    )
    assert line == (
        "htflow: 1:02:03 elapsed; fireworks 20: RUNNING 2, READY 5, WAITING 3, COMPLETED 10; "
        "running 2: GaAs static, Si relax"
    )
    assert status_line({}, [], 0, prefix="htflow demo") == (
        "htflow demo: 0:00:00 elapsed; fireworks 0: none"
    )


def test_long_or_many_names_are_cut_to_a_count() -> None:
    long_name = "x" * 41
    assert status_line({"RUNNING": 1}, [long_name], 5).endswith("; running 1")
    many = [f"calc {i:02d}" for i in range(30)]
    tail = status_line({"RUNNING": 30}, many, 5).split("; running 30: ")[1]
    assert tail.startswith("calc 00, calc 01")
    assert re.search(r" and \d+ more$", tail)
    assert len(tail) < 100
    assert format_elapsed(90061) == "25:01:01"


def test_reporter_prints_once_per_interval_read_from_the_settings() -> None:
    now = [100.0]
    lines: list[str] = []
    snapshot = lambda: ({"READY": 1}, [])  # noqa: E731
    with settings_env(progress_interval=30):
        reporter = ProgressReporter(snapshot, lines.append, clock=lambda: now[0])
        assert not reporter()
        now[0] += 29.9
        assert not reporter()
        now[0] += 0.2
        assert reporter()
        assert lines == ["htflow: 0:00:30 elapsed; fireworks 1: READY 1"]
        assert not reporter()
        assert reporter(force=True)
        assert len(lines) == 2
    with settings_env(progress_interval=5):  # read again after each line
        now[0] += 30
        assert reporter()
        now[0] += 5
        assert reporter()
    assert len(lines) == 4


def test_agent_asks_for_the_status_while_it_naps(tmp_path: Path) -> None:
    """With nothing to do the agent naps; the tick comes after the pass and during the nap."""
    db = f"file://{tmp_path}/db"
    config = AgentConfig(profile=load_profile("local"), agent_dir=tmp_path / "agent", db_uri=db)
    calls: list[str] = []
    with Agent(config) as agent:

        def tick() -> None:
            calls.append("tick")
            if len(calls) == 2:  # the first came after the pass: this one is in the nap
                agent.request_stop()

        agent.run(poll=3600, tick=tick)
    assert calls == ["tick", "tick"]


@pytest.mark.slurm
def test_agent_run_without_a_terminal_prints_status_lines(
    local_slurm: ClusterStatus,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = f"file://{tmp_path}/db"
    submit_flow(add(1, 2), get_launchpad(db))
    profile = write_profile(tmp_path, tasks_per_node=1)
    env = agent_environment(local_slurm.slurm_conf, tmp_path / "home")
    env["HTFLOW_PROGRESS_INTERVAL"] = "0.5"
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    stdout = tmp_path / "agent.stdout"
    argv = [sys.executable, "-m", "htflow.cli.agent", "run", "--agent-dir", str(agent_dir)]
    argv += ["--db", db, "--profile", str(profile), "--poll", "2"]
    argv += ["--log-file", str(agent_dir / "agent.log")]
    with open(stdout, "w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The agent keeps running after the job is done: a line with the completed Firework
        # must come from the idle agent, before it is told to stop.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "COMPLETED 1" not in stdout.read_text():
            assert proc.poll() is None, stdout.read_text()
            time.sleep(0.3)
        before_stop = stdout.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [line for line in before_stop.splitlines() if STATUS.match(line)]
    assert lines, before_stop
    total, states = STATUS.match(lines[-1]).groups()  # type: ignore[union-attr]
    assert total == "1"
    assert states == "COMPLETED 1"
    final = stdout.read_text().splitlines()[-1]  # and one line after the stop
    assert STATUS.match(final), final


@pytest.mark.slurm
def test_demo_agent_reports_its_campaign(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for key, value in agent_environment(local_slurm.slurm_conf, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HTFLOW_PROGRESS_INTERVAL", "0.2")
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    flow = add_flow(1, 2, 3)
    flow.update_config({"manager_config": {CAMPAIGN_KEY: "progress"}})
    submit_flow(flow, lp)
    submit_flow(add(5, 5), lp)  # another campaign's (none): not counted
    lines: list[str] = []
    profile = write_profile(tmp_path, tasks_per_node=1)
    states = run_agent_until_done(
        "progress", db, tmp_path / "agent", timeout=240, poll=0.5, profile=str(profile),
        on_status=lines.append,
    )  # fmt: skip
    assert states == {"COMPLETED": 2}
    assert lines
    assert all(re.match(r"^htflow demo: \d+:\d\d:\d\d elapsed; fireworks 2: ", x) for x in lines)


@pytest.mark.parametrize("terminal", [False, True])
def test_demo_prints_status_lines_only_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool
) -> None:
    import typer
    from rich.console import Console
    from typer.testing import CliRunner

    from htflow.cli import demo_run
    from htflow.cli.demo import demo
    from htflow.reports import results

    seen: list[object] = []

    def fake_run_demo(*_: object, on_status: Callable[[str], None] | None = None, **__: object):
        seen.append(on_status)
        if on_status is not None:
            on_status("htflow demo: 0:00:30 elapsed; fireworks 3: RUNNING 1, READY 2")
        return demo_run.DemoResult(out_dir=tmp_path, home=tmp_path, db_uri="file:///x")

    monkeypatch.setattr(demo_run, "run_demo", fake_run_demo)
    if terminal:
        monkeypatch.setattr(results, "wide_console", lambda: Console(force_terminal=True))
    app = typer.Typer()
    app.command()(demo)
    out = CliRunner().invoke(app, ["--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert (seen[0] is None) is terminal
    assert ("fireworks 3: RUNNING 1, READY 2" in out.output) is not terminal
