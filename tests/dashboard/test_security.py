"""Sign-in on every route (FireWorks' included), CSRF on every action, roles, cookies."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

import pytest

from htflow.actions import audit_log, campaign_states
from htflow.dashboard import create_app
from htflow.dashboard.fireworks_gui import PREFIX
from tests.dashboard.conftest import ADMIN, CAMPAIGN, VIEWER, csrf_of, login

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from htflow.dashboard.users import UserStore

PUBLIC = {"auth.login", "static"}
FIZZLED_CAUSE = "RuntimeError: ScriptTask fizzled! Return code: [3]"
ACTIONS = [
    (f"/campaign/{CAMPAIGN}/pause", {}),
    (f"/campaign/{CAMPAIGN}/resume", {}),
    (f"/campaign/{CAMPAIGN}/cancel", {}),
    (f"/campaign/{CAMPAIGN}/priority", {"priority": "5"}),
    (
        f"/campaign/{CAMPAIGN}/rerun",
        {"cause": "RuntimeError: ScriptTask fizzled! Return code: [3]"},
    ),
    ("/fw/3/rerun", {}),
]


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _path(rule: str) -> str:
    path = re.sub(r"<int:[^>]+>", "1", rule)
    path = re.sub(r"<path:[^>]+>", "css/x.css", path)
    return re.sub(r"<[^>]+>", "alpha", path)


def every_route(app: Flask) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) of every rule of the dashboard and of FireWorks' mounted app."""
    routes = []
    fireworks = app.extensions["htflow_fireworks"]
    for url_map, prefix in ((app.url_map, ""), (fireworks.url_map, PREFIX)):
        for rule in url_map.iter_rules():
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                name = f"fireworks:{rule.endpoint}" if prefix else rule.endpoint
                routes.append((method, prefix + _path(rule.rule), name))
    return routes


def test_every_route_needs_sign_in(app: Flask) -> None:
    client = app.test_client()
    routes = every_route(app)
    endpoints = {endpoint for _, _, endpoint in routes}
    # it really enumerates both apps: our pages, actions, API and FireWorks' report figure
    assert {"pages.campaign", "actions.control", "api.counts", "fireworks:simple"} <= endpoints
    assert ("GET", "/fireworks/reports/alpha/alpha/alpha/fig.png", "fireworks:simple") in routes
    checked = 0
    for method, path, endpoint in routes:
        if endpoint in PUBLIC:
            continue
        for headers in ({}, {"Accept": "text/html"}, basic("ada", "wrong-password")):
            answer = client.open(path, method=method, headers=headers)
            assert answer.status_code == 401, (method, path, answer.status_code)
        checked += 1
    assert checked >= 25


def test_a_browser_gets_the_login_form_a_script_a_basic_challenge(app: Flask) -> None:
    client = app.test_client()
    browser = client.get("/campaign/alpha", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 401
    assert 'name="password"' in browser.get_data(as_text=True)
    assert "WWW-Authenticate" not in browser.headers  # no native prompt over the form
    script = client.get("/api/campaigns", headers={"Accept": "text/html"})
    assert script.status_code == 401
    assert script.headers["WWW-Authenticate"].startswith("Basic ")


def test_fireworks_report_figure_is_public_in_fireworks_but_not_here(app: Flask) -> None:
    figure = "/reports/fireworks/days/3/fig.png"
    bare = app.extensions["htflow_fireworks"].test_client()
    bare.application.config.update(WEBGUI_USERNAME="htflow", WEBGUI_PASSWORD="s3cret")
    try:
        # FireWorks' own auth guards its pages but not this figure: the review was right.
        assert bare.get("/").status_code == 401
        assert bare.get(figure).status_code != 401
    finally:
        bare.application.config.update(WEBGUI_USERNAME=None, WEBGUI_PASSWORD=None)
    client = app.test_client()
    assert client.get(PREFIX + figure).status_code == 401
    login(client, *ADMIN)
    assert client.get(PREFIX + "/").status_code == 200
    assert client.post(PREFIX + "/").status_code == 405  # FireWorks' GUI only reads


def test_login_page_and_static_files_are_public(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/static/dashboard.js").status_code == 200


@pytest.mark.parametrize(("path", "form"), ACTIONS)
def test_post_without_or_with_a_wrong_csrf_token_is_refused(
    admin: tuple[FlaskClient, str], campaign_db: str, path: str, form: dict[str, str]
) -> None:
    client, token = admin
    before = campaign_states(campaign_db)
    assert client.post(path, data=form).status_code == 403
    assert client.post(path, data={**form, "csrf_token": "x" + token[1:]}).status_code == 403
    assert client.post(path, data=form, headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert campaign_states(campaign_db) == before
    assert audit_log(campaign_db) == []


def test_a_token_from_another_session_is_refused(
    app: Flask, admin: tuple[FlaskClient, str], campaign_db: str
) -> None:
    _, other_token = admin
    client = app.test_client()
    login(client, *ADMIN)
    assert client.post("/campaign/alpha/pause", data={"csrf_token": other_token}).status_code == 403
    assert audit_log(campaign_db) == []


@pytest.mark.parametrize(("path", "form"), ACTIONS)
def test_a_viewer_cannot_act(
    viewer: tuple[FlaskClient, str], campaign_db: str, path: str, form: dict[str, str]
) -> None:
    client, token = viewer
    before = campaign_states(campaign_db)
    assert client.post(path, data={**form, "csrf_token": token}).status_code == 403
    assert campaign_states(campaign_db) == before
    assert audit_log(campaign_db) == []
    page = client.get("/campaign/alpha").get_data(as_text=True)
    assert 'id="pause"' not in page and "Rerun" not in page  # and sees no buttons


def test_an_admin_with_the_token_acts_and_is_audited(
    admin: tuple[FlaskClient, str], campaign_db: str
) -> None:
    client, token = admin
    answer = client.post("/campaign/alpha/pause", data={"csrf_token": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert 'id="outcome-status">applied' in answer.get_data(as_text=True)
    assert campaign_states(campaign_db)["alpha"]["paused"] is True
    (entry,) = audit_log(campaign_db)
    assert (entry["who"], entry["kind"], entry["status"]) == ("ada", "pause", "applied")
    audit = client.get("/audit").get_data(as_text=True)
    assert "ada" in audit and "pause" in audit
    counts = client.get("/api/campaign/alpha/counts").get_json()
    assert counts["paused"] is True


def test_basic_auth_reads_but_cannot_act(app: Flask, campaign_db: str) -> None:
    client = app.test_client()
    assert client.get("/api/campaigns", headers=basic(*ADMIN)).status_code == 200
    assert client.post("/campaign/alpha/pause", headers=basic(*ADMIN)).status_code == 403
    assert audit_log(campaign_db) == []


def test_login_needs_its_csrf_token_and_the_right_password(app: Flask) -> None:
    client = app.test_client()
    name, password = ADMIN
    assert client.post("/login", data={"username": name, "password": password}).status_code == 403
    token = csrf_of(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={"username": name, "password": "x", "csrf_token": token})
    assert wrong.status_code == 401
    assert client.get("/").status_code == 401


def test_session_cookie_is_httponly_samesite_strict(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post(
        "/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
    )
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback


def test_session_cookie_is_secure_under_tls(campaign_db: str, users: UserStore) -> None:
    client = create_app(campaign_db, users, tls=True).test_client()
    token = csrf_of(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    answer = client.post(
        "/login",
        data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token},
        base_url="https://localhost",
    )
    assert "Secure" in answer.headers["Set-Cookie"]
    assert "max-age" in answer.headers["Strict-Transport-Security"]


def test_login_redirects_only_within_the_site(app: Flask) -> None:
    cases = [("/fw/1", "/fw/1"), ("//evil.example/", "/"), ("https://e.x/", "/")]
    cases += [("/\t/evil.example/", "/"), ("/\\evil.example", "/")]
    for target, expected in cases:
        client = app.test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        answer = client.post(
            "/login",
            data={
                "username": VIEWER[0],
                "password": VIEWER[1],
                "csrf_token": token,
                "next": target,
            },
        )
        assert answer.headers["Location"] == expected


def test_a_removed_user_is_signed_out_at_the_next_request(
    campaign_db: str, users_file: object, tmp_path: object
) -> None:
    import shutil
    from pathlib import Path

    from htflow.dashboard.users import UserStore, remove_user

    path = Path(str(tmp_path)) / "users.yaml"
    shutil.copy(str(users_file), path)
    client = create_app(campaign_db, UserStore(path)).test_client()
    login(client, *VIEWER)
    assert client.get("/").status_code == 200
    remove_user(path, VIEWER[0])
    assert client.get("/").status_code == 401


def test_logout_needs_the_token(admin: tuple[FlaskClient, str]) -> None:
    client, token = admin
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 401


def test_pages_carry_security_headers(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    page = client.get("/campaign/alpha")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.get_data(as_text=True)  # no inline script for the CSP to block
    fireworks = client.get("/fireworks/")
    assert fireworks.headers["X-Frame-Options"] == "DENY"


def test_repeated_failed_sign_ins_are_throttled(app: Flask) -> None:
    from htflow.dashboard import auth

    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    auth._failures.clear()
    try:
        codes = [
            client.post(
                "/login", data={"username": "ada", "password": f"bad{i}", "csrf_token": token}
            ).status_code
            for i in range(auth.LOGIN_FAILURES + 1)
        ]
    finally:
        auth._failures.clear()
    assert codes[:-1] == [401] * auth.LOGIN_FAILURES and codes[-1] == 429


def test_an_admin_sets_priority_and_cancels(
    admin: tuple[FlaskClient, str], campaign_db: str
) -> None:
    client, token = admin
    answer = client.post("/campaign/alpha/priority", data={"csrf_token": token, "priority": "7"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert campaign_states(campaign_db)["alpha"]["priority"] == 7
    assert client.get("/api/campaign/alpha/counts").get_json()["priority"] == 7
    bad = client.post("/campaign/alpha/priority", data={"csrf_token": token, "priority": "x"})
    assert bad.status_code == 400
    huge = client.post(
        "/campaign/alpha/priority", data={"csrf_token": token, "priority": "1000000000"}
    )
    assert huge.status_code == 400
    assert client.post("/campaign/alpha/cancel", data={"csrf_token": token}).status_code == 200
    assert campaign_states(campaign_db)["alpha"]["cancelled"] is True
    assert [e["kind"] for e in audit_log(campaign_db)] == ["cancel", "priority"]
    refused = client.post("/campaign/nope/pause", data={"csrf_token": token})
    assert refused.status_code == 409  # refused by the actions layer: shown, nothing applied
    assert 'id="outcome-status">refused' in refused.get_data(as_text=True)
