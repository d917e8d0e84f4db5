"""The dashboard serves the FireWorks web GUI over the embedded store, with optional auth."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fireworks import Firework, ScriptTask, Workflow

from htflow.dashboard import check_bind, create_app
from htflow.db import get_launchpad
from htflow.exceptions import InputError


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    uri = f"file://{tmp_path}/db"
    lp = get_launchpad(uri)
    fw = Firework(ScriptTask.from_str("echo hi"), name="si-static")
    lp.add_wf(Workflow([fw], name="campaign-demo"))
    return uri


def test_index_lists_the_workflow(db_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTFLOW_DASHBOARD_PASSWORD", raising=False)
    client = create_app(db_uri).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"campaign-demo" in page.data


def test_password_turns_on_basic_auth(db_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_DASHBOARD_PASSWORD", "s3cret")
    client = create_app(db_uri).test_client()
    assert client.get("/").status_code == 401
    token = base64.b64encode(b"htflow:s3cret").decode()
    assert client.get("/", headers={"Authorization": f"Basic {token}"}).status_code == 200
    wrong = base64.b64encode(b"htflow:nope").decode()
    assert client.get("/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401


def test_public_bind_needs_a_password() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "pw")
    with pytest.raises(InputError, match="without a password"):
        check_bind("0.0.0.0", None)
    with pytest.raises(InputError, match="not an IP address"):
        check_bind("example", None)
