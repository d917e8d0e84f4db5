"""The inbox's trust rules: who may leave a request, what a flow may name, the directory mode.

Each test writes files into the inbox the way an attacker (or a careless script) would and
runs the agent's inbox step. Before the rules, the agent decoded any class a file named
(``MontyDecoder``), in a directory created with the default umask, whoever owned the file.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

import pytest
from monty.json import jsanitize

from htflow.agent.inbox import process_inbox
from htflow.settings import DEFAULT_INBOX_TRUSTED_MODULES
from tests.actions.conftest import in_campaign
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad

OTHER_UID = 54321


def leave(agent_dir: Path, name: str, payload: Any) -> Path:
    """Write ``payload`` into the inbox as ``<name>.json`` (no checks: as anyone could)."""
    inbox = agent_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"{name}.json"
    path.write_text(json.dumps(payload))
    return path


def flow_payload(**extra: Any) -> dict[str, Any]:
    """A real submit_flow request of one job (tests.agent.jobs.add) in campaign ``c``."""
    flow = jsanitize(in_campaign("c", add(1, 2)), strict=True, enum_values=True)
    return {"kind": "submit_flow", "flow": flow, "protocol": None, **extra}


def result(agent_dir: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (agent_dir / "inbox" / "done" / f"{name}.result.json").read_text()
    )
    return loaded


def test_a_flow_naming_an_untrusted_module_is_refused_before_it_is_decoded(
    launchpad: LaunchPad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "gadget-ran"
    monkeypatch.setenv("HTFLOW_TEST_GADGET", str(marker))
    monkeypatch.setenv("HTFLOW_INBOX_TRUSTED_MODULES", json.dumps(DEFAULT_INBOX_TRUSTED_MODULES))
    sys.modules.pop("tests.actions.gadget", None)  # importing it again must be what runs it
    agent_dir = tmp_path / "agent"
    # Importing a module is running its code: a flow whose JSON names the gadget module.
    gadget = {"@module": "tests.actions.gadget", "@class": "Gadget"}
    leave(agent_dir, "a" * 32, {"flow": gadget, "protocol": None, "dedupe": True})
    # The classic shapes: os.system / subprocess.run named as a callable or a class.
    flow = flow_payload()["flow"]
    flow["jobs"][0]["function"] = {"@module": "os", "@callable": "system", "@bound": None}
    flow["jobs"][0]["function_args"] = [f"touch {marker}"]
    leave(agent_dir, "b" * 32, {**flow_payload(), "flow": flow})
    popen = {"@module": "subprocess", "@class": "Popen", "args": ["touch", str(marker)]}
    leave(agent_dir, "c" * 32, {**flow_payload(), "flow": popen})

    summaries = process_inbox(launchpad, agent_dir)

    assert not marker.exists(), "the inbox imported or ran code a file named"
    assert "tests.actions.gadget" not in sys.modules
    assert [s["status"] for s in summaries] == ["refused"] * 3
    assert "tests.actions.gadget" in result(agent_dir, "a" * 32)["message"]
    assert "'os'" in result(agent_dir, "b" * 32)["message"]
    assert "'subprocess'" in result(agent_dir, "c" * 32)["message"]
    assert launchpad.fireworks.count_documents({}) == 0
    refused = sorted(p.name for p in (agent_dir / "inbox" / "refused").iterdir())
    assert refused == [f"{c * 32}.json" for c in "abc"]
    assert not list((agent_dir / "inbox").glob("*.json"))


def test_a_file_of_unknown_kind_is_refused(launchpad: LaunchPad, tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    leave(agent_dir, "d" * 32, {"kind": "shutdown", "campaign": "c"})
    leave(agent_dir, "e" * 32, {"kind": "pause", "campaign": "c", "command": "rm -rf /"})
    leave(agent_dir, "f" * 32, ["not", "an", "object"])
    (agent_dir / "inbox" / f"{'0' * 32}.json").write_text("{not json")

    summaries = process_inbox(launchpad, agent_dir)

    assert [s["status"] for s in summaries] == ["refused"] * 4
    assert "unknown request kind 'shutdown'" in result(agent_dir, "d" * 32)["message"]
    assert "command" in result(agent_dir, "e" * 32)["message"]
    assert len(list((agent_dir / "inbox" / "refused").glob("*.json"))) == 4
    # Each refusal is audited.
    from htflow.actions.store import audit

    assert audit(launchpad).count_documents({"status": "refused"}) == 4


def test_a_file_owned_by_another_user_is_refused(launchpad: LaunchPad, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    agent_dir = tmp_path / "agent"
    path = leave(agent_dir, "1" * 32, flow_payload())  # a valid request, in every other way
    os.chown(path, OTHER_UID, OTHER_UID)

    [summary] = process_inbox(launchpad, agent_dir)

    assert summary["status"] == "refused"
    assert f"owned by uid {OTHER_UID}" in summary["message"]
    assert launchpad.fireworks.count_documents({}) == 0
    assert (agent_dir / "inbox" / "refused" / path.name).exists()


def test_a_symlink_in_the_inbox_is_not_followed(launchpad: LaunchPad, tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(flow_payload()))
    (agent_dir / "inbox").mkdir(parents=True)
    (agent_dir / "inbox" / f"{'2' * 32}.json").symlink_to(target)

    [summary] = process_inbox(launchpad, agent_dir)

    assert summary["status"] == "refused"
    assert launchpad.fireworks.count_documents({}) == 0


def test_an_open_inbox_is_closed_and_one_of_another_user_is_not_read(
    launchpad: LaunchPad, tmp_path: Path
) -> None:
    agent_dir = tmp_path / "agent"
    path = leave(agent_dir, "3" * 32, flow_payload())
    inbox = path.parent
    inbox.chmod(0o777)

    [summary] = process_inbox(launchpad, agent_dir)

    assert stat.S_IMODE(inbox.stat().st_mode) == 0o700
    assert summary["status"] == "applied"  # the file itself is the agent's own
    if os.geteuid() != 0:
        return
    leave(agent_dir, "4" * 32, flow_payload())
    os.chown(inbox, OTHER_UID, OTHER_UID)
    assert process_inbox(launchpad, agent_dir) == []
    assert (inbox / f"{'4' * 32}.json").exists()  # left alone: not ours to read


def test_queue_submission_makes_a_private_inbox_and_a_valid_request(tmp_path: Path) -> None:
    from htflow.actions import SubmitFlowRequest, parse_request
    from htflow.submit.inbox import queue_submission

    old = os.umask(0o000)  # the most permissive umask: the inbox must still be private
    try:
        path = queue_submission(in_campaign("c", add(1, 2)), tmp_path / "agent")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    request = parse_request(path.read_text())
    assert isinstance(request, SubmitFlowRequest)
    assert path.name == f"{request.request_id}.json"
