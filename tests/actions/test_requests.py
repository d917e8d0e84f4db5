"""Typed requests: what parses, what is refused (one line), what round-trips through JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from htflow.actions import (
    CancelRequest,
    PauseRequest,
    PriorityRequest,
    RerunRequest,
    ResumeRequest,
    SubmitFlowRequest,
    audit_log,
    parse_request,
)
from htflow.agent.inbox import process_inbox
from htflow.exceptions import InputError
from htflow.submit.inbox import queue_submission
from tests.actions.conftest import in_campaign
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"kind": "rerun", "campaign": "c"}, RerunRequest),
        ({"kind": "rerun", "fw_ids": [3, 4], "reset_retries": True}, RerunRequest),
        ({"kind": "pause", "campaign": "c"}, PauseRequest),
        ({"kind": "resume", "campaign": "c"}, ResumeRequest),
        ({"kind": "cancel", "campaign": "c"}, CancelRequest),
        ({"kind": "priority", "campaign": "c", "priority": -5}, PriorityRequest),
        ({"kind": "submit_flow", "flow": {"@class": "Flow"}}, SubmitFlowRequest),
    ],
)
def test_each_kind_parses_and_round_trips(payload: dict[str, Any], kind: type) -> None:
    request = parse_request(payload)
    assert isinstance(request, kind)
    assert len(request.request_id) == 32 and request.who
    assert request.requested_at.tzinfo is UTC
    text = json.dumps(request.model_dump(mode="json"))
    assert parse_request(text) == request


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"kind": "rerun"}, "names nothing"),
        ({"kind": "rerun", "campaign": "c", "cause": "x", "match": "y"}, "not cause and match"),
        ({"kind": "rerun", "campaign": "c", "match": "(["}, "not a regular expression"),
        ({"kind": "rerun", "fw_ids": [0]}, "greater than 0"),
        ({"kind": "priority", "campaign": "c", "priority": 10**9}, "less than or equal"),
        ({"kind": "pause"}, "campaign: Field required"),
        ({"kind": "pause", "campaign": ""}, "at least 1 character"),
        ({"kind": "pause", "campaign": "c", "@module": "os"}, "Extra inputs"),
        ({"kind": "pause", "campaign": "c", "request_id": "../../etc"}, "request_id"),
        ({"kind": "exec", "campaign": "c"}, "unknown request kind 'exec'"),
        ({"campaign": "c"}, "unknown request kind 'None'"),
        ("[1, 2]", "must be a JSON object"),
        ("{nope", "not JSON"),
    ],
)
def test_anything_else_is_refused_in_one_line(payload: Any, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_request(payload)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_requested_at_is_kept_in_utc() -> None:
    paris = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    request = PauseRequest(campaign="c", requested_at=paris)
    assert request.requested_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    naive = PauseRequest(campaign="c", requested_at=datetime(2025, 6, 1, 12, 0))
    assert naive.requested_at.tzinfo is UTC


def test_a_submission_is_audited_without_its_flow_and_old_files_still_work(
    launchpad: LaunchPad, db_uri: str, tmp_path: Path
) -> None:
    agent_dir = tmp_path / "agent"
    path = queue_submission(in_campaign("c", add(1, 2), name="one add"), agent_dir)
    legacy = json.loads(path.read_text())
    legacy = {k: legacy[k] for k in ("flow", "protocol", "resources", "dedupe")}
    (path.parent / "old-style.json").write_text(json.dumps(legacy))  # before requests had kinds

    done = {s["file"]: s for s in process_inbox(launchpad, agent_dir)}

    assert done[path.name]["submitted"] and done[path.name]["campaign"] == "c"
    assert done["old-style.json"]["status"] == "applied"
    assert done["old-style.json"]["submitted"] is False  # the same flow: duplicates
    assert done["old-style.json"]["duplicates"] == 1
    entries = audit_log(db_uri, campaign="c")
    assert [e["kind"] for e in entries] == ["submit_flow"]
    assert entries[0]["params"]["flow_name"] == "one add"
    assert "flow" not in entries[0]["params"]
