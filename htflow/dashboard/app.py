"""The dashboard's Flask app: pages, JSON for polling, admin actions, FireWorks' GUI mounted."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from htflow.dashboard.auth import USERS_KEY, csrf_token, current_user, guard
from htflow.dashboard.paging import SnapshotCache

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from htflow.dashboard.users import UserStore

DB_URI_KEY = "HTFLOW_DB_URI"
CACHE_TTL_KEY = "HTFLOW_SNAPSHOT_TTL"
POLL_KEY = "HTFLOW_POLL_MS"
SESSION_HOURS = 12
# Our pages use no inline script or style: everything comes from /static.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(
    uri: str | None = None,
    users: UserStore | None = None,
    *,
    tls: bool = False,
    snapshot_ttl: float = 2.0,
    poll_ms: int = 3000,
) -> Flask:
    """The dashboard over the database ``uri`` (None: the configured one).

    Parameters
    ----------
    uri
        Database URI, as for :func:`htflow.db.get_launchpad`.
    users
        Who may sign in (default: :meth:`UserStore.configured`: the users file, else the
        legacy ``HTFLOW_DASHBOARD_PASSWORD``).
    tls
        Served over HTTPS: session cookies are ``Secure`` and HSTS is sent.
    snapshot_ttl
        Seconds the polled counts are shared between requests (0: read every time).
    poll_ms
        How often open pages poll their counts (ms).
    """
    from htflow.dashboard.actions import actions
    from htflow.dashboard.api import api
    from htflow.dashboard.auth import auth
    from htflow.dashboard.fireworks_gui import FireworksMount, fireworks_app
    from htflow.dashboard.pages import pages
    from htflow.dashboard.users import UserStore
    from htflow.db import get_launchpad

    app = Flask("htflow.dashboard")
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME="htflow_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=tls,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
        MAX_CONTENT_LENGTH=64 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.config[USERS_KEY] = users if users is not None else UserStore.configured()
    app.config[DB_URI_KEY] = uri
    app.config[CACHE_TTL_KEY] = snapshot_ttl
    app.config[POLL_KEY] = poll_ms
    app.config["HTFLOW_TLS"] = tls
    app.extensions["htflow_snapshots"] = SnapshotCache()
    app.before_request(guard)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    for blueprint in (auth, pages, api, actions):
        app.register_blueprint(blueprint)
    lp = get_launchpad(uri)
    app.extensions["htflow_fireworks"] = fw_app = fireworks_app(lp, secure=tls)
    app.wsgi_app = FireworksMount(app, app.wsgi_app, fw_app)  # type: ignore[method-assign]
    return app


def db_uri() -> str | None:
    """The database of the running app."""
    uri: str | None = current_app.config[DB_URI_KEY]
    return uri


def snapshots() -> SnapshotCache:
    """The app's snapshot cache."""
    cache: SnapshotCache = current_app.extensions["htflow_snapshots"]
    return cache


def _template_globals() -> dict[str, Any]:
    return {
        "user": current_user(),
        "csrf_token": csrf_token,
        "poll_ms": current_app.config[POLL_KEY],
    }


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CSP)
    if response.mimetype in ("text/html", "application/json"):
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config.get("HTFLOW_TLS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
