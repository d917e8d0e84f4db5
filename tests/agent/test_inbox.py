"""Inbox submissions: a flow left for the agent gets the Firework specs of a direct submission."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow, Maker, job

from htflow.agent.inbox import process_inbox
from htflow.cluster import load_profile
from htflow.db import get_launchpad
from htflow.launch.spec import (
    CAMPAIGN_KEY,
    CATEGORY_KEY,
    IDENTITY_KEY,
    JOB_TYPE_KEY,
    JOB_UUID_KEY,
    PRIORITY_KEY,
    RESOURCES_KEY,
)
from htflow.submit import submit_flow
from htflow.submit.inbox import queue_submission
from tests.agent.agent_helpers import TEST_TRUSTED_MODULES
from tests.agent.jobs import add

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad

ROUTING_KEYS = (
    RESOURCES_KEY,
    CATEGORY_KEY,
    JOB_TYPE_KEY,
    CAMPAIGN_KEY,
    PRIORITY_KEY,
    IDENTITY_KEY,
    JOB_UUID_KEY,
)


@dataclass
class AddRelaxMaker(Maker):
    """A pure-Python job whose Maker name makes it a ``large`` job (like a relaxation)."""

    name: str = "relax add"

    @job
    def make(self, a: float, b: float) -> float:
        return a + b


@pytest.fixture(autouse=True)
def htflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    monkeypatch.setenv("HTFLOW_INBOX_TRUSTED_MODULES", TEST_TRUSTED_MODULES)


def campaign_flow() -> Flow:
    """A relaxation-like (large) job feeding a plain (small) one, tagged like a campaign's."""
    first = AddRelaxMaker().make(1, 2)
    second = add(first.output, 3)
    flow = Flow([first, second], output=second.output, name="inbox routing")
    flow.update_config({"manager_config": {CAMPAIGN_KEY: "routed", PRIORITY_KEY: 7}})
    return flow


def site_resources() -> dict[str, dict[str, Any]]:
    """Job type → resource overrides of a real site profile (what a campaign submits with)."""
    profile = load_profile("hpc-srun-modules")
    return {
        job_type: profile.resources[profile.routing.get(job_type, job_type)].model_dump(
            exclude_none=True, mode="json"
        )
        for job_type in ("small", "large")
    }


def routing_specs(lp: LaunchPad) -> dict[str, dict[str, Any]]:
    """Firework name → its routing spec entries."""
    return {
        doc["name"]: {key: doc["spec"].get(key) for key in ROUTING_KEYS}
        for doc in lp.fireworks.find({}, {"name": 1, "spec": 1})
    }


def test_inbox_submission_routes_like_a_direct_one(tmp_path: Path) -> None:
    flow = campaign_flow()
    resources = site_resources()
    options: dict[str, Any] = {"protocol": "fast", "resources": resources, "dedupe": True}

    direct = get_launchpad(f"file://{tmp_path}/db1")
    assert submit_flow(flow, direct, **options).submitted

    inboxed = get_launchpad(f"file://{tmp_path}/db2")
    agent_dir = tmp_path / "agent"
    path = queue_submission(flow, agent_dir, **options)
    assert json.loads(path.read_text())["resources"] == resources  # plain JSON on disk
    [summary] = process_inbox(inboxed, agent_dir)
    assert summary["submitted"] and summary["n_jobs"] == 2

    expected = routing_specs(direct)
    assert routing_specs(inboxed) == expected
    by_type = {spec[JOB_TYPE_KEY]: spec for spec in expected.values()}
    assert sorted(by_type) == ["large", "small"]
    for job_type, spec in by_type.items():
        assert spec[CATEGORY_KEY] == job_type
        assert spec[RESOURCES_KEY] == resources[job_type]
        assert (spec[CAMPAIGN_KEY], spec[PRIORITY_KEY]) == ("routed", 7)
        assert spec[IDENTITY_KEY]["protocol"] == "fast"
    assert by_type["large"][RESOURCES_KEY]["nodes"] == 4


def test_inbox_passes_dedupe_on(tmp_path: Path) -> None:
    """The duplicate check runs or not as the submitter asked (a campaign's against_database)."""
    lp = get_launchpad(f"file://{tmp_path}/db")
    agent_dir = tmp_path / "agent"
    flow = campaign_flow()
    assert submit_flow(flow, lp, protocol="fast").submitted
    checked = queue_submission(flow, agent_dir, protocol="fast")
    unchecked = queue_submission(flow, agent_dir, protocol="fast", dedupe=False)
    done = {s["file"]: s for s in process_inbox(lp, agent_dir)}
    assert done[checked.name]["submitted"] is False
    assert done[checked.name]["duplicates"] == 2
    assert done[unchecked.name]["submitted"] is True
    assert lp.fireworks.count_documents({}) == 4
