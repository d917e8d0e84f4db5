"""``send`` and the CLI: applied at once without an agent, queued (and awaited) with one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from htflow.actions import ActionOutcome, PauseRequest, RerunRequest, audit_log, send
from htflow.agent.inbox import process_inbox
from htflow.db import writer_lock
from htflow.submit import submit_flow
from tests.actions.conftest import in_campaign
from tests.agent.agent_helpers import REPO
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad


def test_with_the_lock_held_the_request_is_queued_and_the_agent_applies_it(
    launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    submit_flow(in_campaign("c", add(1, 2)), launchpad)
    agent_dir = tmp_path / "agent"
    with writer_lock(db_uri):  # stands for the running agent
        queued = send(PauseRequest(campaign="c"), agent_dir=agent_dir, db_uri=db_uri)
        assert queued.status == "queued"
        inbox_file = agent_dir / "inbox" / f"{queued.request_id}.json"
        assert json.loads(inbox_file.read_text())["kind"] == "pause"
        # A typo is refused at once, before anything is queued.
        typo = send(PauseRequest(campaign="cc"), agent_dir=agent_dir, db_uri=db_uri)
        assert typo.status == "refused" and "nothing queued" in typo.message
        assert len(list((agent_dir / "inbox").glob("*.json"))) == 1
        [summary] = process_inbox(launchpad, agent_dir)  # the agent's next pass
    assert summary["status"] == "applied" and summary["request_id"] == queued.request_id
    result = agent_dir / "inbox" / "done" / f"{queued.request_id}.result.json"
    assert ActionOutcome.model_validate_json(result.read_text()).status == "applied"
    [entry] = audit_log(db_uri, campaign="c")
    assert (entry["kind"], entry["via"], entry["status"]) == ("pause", "inbox", "applied")


def test_wait_returns_the_agents_outcome(launchpad: LaunchPad, db_uri: str, tmp_path: Path) -> None:
    submit_flow(in_campaign("c", add(1, 2)), launchpad)
    agent_dir = tmp_path / "agent"
    with writer_lock(db_uri):
        stop = threading.Event()

        def agent_passes() -> None:  # what the agent's loop does, every 0.1 s
            while not stop.is_set():
                process_inbox(launchpad, agent_dir)
                time.sleep(0.1)

        agent = threading.Thread(target=agent_passes, daemon=True)
        agent.start()
        try:
            outcome = send(RerunRequest(campaign="c"), agent_dir=agent_dir, db_uri=db_uri, wait=60)
        finally:
            stop.set()
            agent.join()
    assert outcome.status == "applied"
    assert outcome.message == "no FIZZLED Firework of campaign c matches"


def htflow(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTFLOW_")}
    env.update(
        HTFLOW_HOME=str(tmp_path / "home"),
        HTFLOW_CONFIG_FILE=str(tmp_path / "absent.yaml"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    code = "from htflow.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cli_one_line_and_status_2_on_bad_input(
    launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    submit_flow(in_campaign("c", add(1, 2)), launchpad)
    ok = htflow("priority", "c", "5", "--db", db_uri, tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert (
        ok.stdout.strip()
        == "priority applied: 1 Firework: campaign c: priority 5 on its unfinished Fireworks"
    )
    for argv, words in (
        (["rerun", "--db", db_uri], "names nothing"),
        (["rerun", "c", "--match", "(", "--db", db_uri], "not a regular expression"),
        (["pause", "nope", "--db", db_uri], "unknown campaign 'nope'"),
        (["priority", "c", "-99999999", "--db", db_uri], "priority"),
        (["rerun", "--fw", "-3", "--db", db_uri], "greater than 0"),
        (["pause", "c", "--wait", "-1", "--db", db_uri], "--wait"),
    ):
        bad = htflow(*argv, tmp_path=tmp_path)
        assert bad.returncode == 2, (argv, bad.stdout, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert words in bad.stderr and "Traceback" not in bad.stderr
    # Refusals by the writer are audited (bad input the CLI refuses never reaches it).
    listed = htflow("audit", "--json", "--db", db_uri, tmp_path=tmp_path)
    entries = json.loads(listed.stdout)
    assert [(e["kind"], e["status"]) for e in entries] == [  # newest first
        ("pause", "refused"),
        ("priority", "applied"),
    ]
    of_c = htflow("audit", "c", "--db", db_uri, tmp_path=tmp_path)
    assert of_c.returncode == 0 and "priority" in of_c.stdout and "nope" not in of_c.stdout
