"""Fixtures for the dashboard tests: users, a campaign run in-process by FireWorks, clients."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from fireworks import Firework, FWorker, ScriptTask, Workflow

from htflow.launch.spec import CAMPAIGN_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from flask import Flask
    from flask.testing import FlaskClient

    from htflow.dashboard.users import UserStore

ADMIN = ("ada", "admin-pass-1")
VIEWER = ("vic", "viewer-pass-1")
CAMPAIGN = "alpha"
PW_OUT_TAIL = "convergence NOT achieved after 100 iterations: stopping"
CUSTODIAN = [
    {
        "job": {"@class": "PwJob"},
        "corrections": [
            {
                "errors": ["scf_not_converged"],
                "actions": [{"dict": "pw_input.json", "action": {"_set": {"mixing_beta": 0.3}}}],
                "handler": {"@class": "ScfConvergenceHandler"},
            }
        ],
    }
]


@pytest.fixture(autouse=True)
def htflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private htflow home; no legacy password, no configured database."""
    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))
    for name in ("HTFLOW_DB_URI", "HTFLOW_DASHBOARD_PASSWORD", "HTFLOW_DASHBOARD_USER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An admin (ada) and a viewer (vic)."""
    from htflow.dashboard.users import add_user

    path = tmp_path_factory.mktemp("users") / "users.yaml"
    add_user(path, *ADMIN, role="admin")
    add_user(path, *VIEWER, role="viewer")
    return path


@pytest.fixture
def users(users_file: Path) -> UserStore:
    from htflow.dashboard.users import UserStore

    return UserStore(users_file)


def run_in_process(lp: Any, fw_id: int, directory: Path) -> None:
    """Run one READY Firework with FireWorks' own rocket in ``directory`` (no SLURM)."""
    import os

    from fireworks.core.rocket_launcher import launch_rocket

    directory.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(directory)
    try:
        launch_rocket(lp, FWorker(), fw_id=fw_id)
    finally:
        os.chdir(here)


@pytest.fixture
def campaign_db(tmp_path: Path) -> str:
    """Campaign ``alpha``: two COMPLETED, one FIZZLED (with pw.out and custodian.json in its
    launch directory), one WAITING child; and a workflow of no campaign."""
    from htflow.db import get_launchpad

    uri = f"file://{tmp_path}/db"
    lp = get_launchpad(uri)
    spec = {CAMPAIGN_KEY: CAMPAIGN}
    ok1 = Firework(ScriptTask.from_str("echo one"), name="si-relax", spec=dict(spec), fw_id=1)
    ok2 = Firework(ScriptTask.from_str("echo two"), name="si-static", spec=dict(spec), fw_id=2)
    bad = Firework(ScriptTask.from_str("exit 3"), name="gaas-relax", spec=dict(spec), fw_id=3)
    child = Firework(ScriptTask.from_str("echo c"), name="gaas-static", spec=dict(spec), fw_id=4)
    lp.add_wf(Workflow([ok1, ok2], {1: [2]}, name="alpha Si relax_static"))
    lp.add_wf(Workflow([bad, child], {3: [4]}, name="alpha GaAs relax_static"))
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="loose")], name="loose"))
    for fw_id in (1, 2, 3):
        run_in_process(lp, fw_id, tmp_path / "launches" / f"fw{fw_id}")
    bad_dir = tmp_path / "launches" / "fw3"
    (bad_dir / "pw.in").write_text("&control\n  calculation = 'relax'\n/\n")
    (bad_dir / "pw.out").write_text("\n".join(f"iteration #{i}" for i in range(200)) + "\n")
    with (bad_dir / "pw.out").open("a") as handle:
        handle.write(PW_OUT_TAIL + "\n")
    (bad_dir / "custodian.json").write_text(json.dumps(CUSTODIAN))
    return uri


@pytest.fixture
def app(campaign_db: str, users: UserStore) -> Flask:
    from htflow.dashboard import create_app

    application = create_app(campaign_db, users, snapshot_ttl=0)
    application.config["TESTING"] = True
    return application


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: FlaskClient, name: str, password: str) -> str:
    """Sign in through the form; return the session's CSRF token."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return csrf_of(client.get("/").get_data(as_text=True))


@pytest.fixture
def admin(app: Flask) -> tuple[FlaskClient, str]:
    """A client signed in as the admin, and its CSRF token."""
    client = app.test_client()
    return client, login(client, *ADMIN)


@pytest.fixture
def viewer(app: Flask) -> tuple[FlaskClient, str]:
    """A client signed in as the viewer, and its CSRF token."""
    client = app.test_client()
    return client, login(client, *VIEWER)
