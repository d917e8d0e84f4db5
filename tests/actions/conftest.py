"""Fixtures for the action tests: an embedded store in tmp_path, campaigns of pure-Python jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow

from htflow.launch.spec import CAMPAIGN_KEY
from tests.agent.agent_helpers import TEST_TRUSTED_MODULES

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import Job, JobStore


@pytest.fixture(autouse=True)
def htflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private htflow home; the test flows' module (tests.*) is trusted by the inbox."""
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    monkeypatch.setenv("HTFLOW_INBOX_TRUSTED_MODULES", TEST_TRUSTED_MODULES)


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


def in_campaign(campaign: str, *jobs: Job, name: str = "flow") -> Flow:
    """A flow of ``jobs`` tagged with ``campaign`` (as a campaign's flows are)."""
    flow = Flow(list(jobs), name=name)
    flow.update_config({"manager_config": {CAMPAIGN_KEY: campaign}})
    return flow


def states(lp: LaunchPad, campaign: str | None = None) -> dict[int, str]:
    """fw_id → state (of ``campaign``, or all)."""
    query: dict[str, Any] = {f"spec.{CAMPAIGN_KEY}": campaign} if campaign else {}
    return {d["fw_id"]: d["state"] for d in lp.fireworks.find(query, {"fw_id": 1, "state": 1})}
