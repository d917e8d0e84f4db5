"""Sign-in, roles and CSRF for every route of the dashboard (FireWorks' GUI included).

A browser signs in with the login form: a signed session cookie (``HttpOnly``,
``SameSite=Strict``, ``Secure`` under TLS) names the user, whose role is read from the users
file on each request (a removed user is out at once). An API client may send HTTP basic auth
instead. Without either, every route answers 401: a browser navigating gets the login form,
anything else a ``WWW-Authenticate: Basic`` challenge. The login page and the static files
are the only public routes.

Every POST carries the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``); a POST without the right one gets 403 before any view runs. So a POST
needs a signed-in session: basic auth alone can read but not act.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from werkzeug.wrappers import Response as BaseResponse

    from htflow.dashboard.users import User, UserStore

F = TypeVar("F", bound="Callable[..., Any]")

USERS_KEY = "HTFLOW_USERS"
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
SESSION_USER = "user"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Failed sign-ins allowed per client address and window before 429.
LOGIN_FAILURES = 10
LOGIN_WINDOW = 300.0

auth = Blueprint("auth", __name__)
_failures: dict[str, list[float]] = {}
_failures_lock = threading.Lock()


def users() -> UserStore:
    """The app's user store."""
    store: UserStore = current_app.config[USERS_KEY]
    return store


def current_user() -> User | None:
    """The user of this request: from the session cookie, else from basic auth."""
    if "htflow_user" in g:
        cached: User | None = g.htflow_user
        return cached
    user = None
    name = session.get(SESSION_USER)
    if isinstance(name, str):
        user = users().get(name)
    if user is None and request.authorization is not None:
        creds = request.authorization
        if creds.type == "basic" and creds.username and creds.password is not None:
            user = users().verify(creds.username, creds.password)
    g.htflow_user = user
    return user


def csrf_token() -> str:
    """This session's CSRF token (made on first use); every form carries it."""
    token = session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return token


def csrf_ok() -> bool:
    """Whether this POST carries the session's CSRF token."""
    expected = session.get(SESSION_CSRF)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), sent.encode())


def wants_html() -> bool:
    """A browser navigating (it names text/html), rather than a script or the polling JS."""
    if request.path.startswith("/api/"):
        return False
    return any(value == "text/html" for value, _ in request.accept_mimetypes)


def unauthorized() -> Response:
    """401: the login form for a browser, a basic-auth challenge for anything else."""
    if wants_html():
        page = render_template(
            "login.html", next=request.full_path.rstrip("?"), error=None, csrf=csrf_token()
        )
        return Response(page, 401, {"Content-Type": "text/html; charset=utf-8"})
    return Response(
        "sign in: log in at /login, or send HTTP basic auth\n",
        401,
        {"WWW-Authenticate": 'Basic realm="htflow dashboard", charset="UTF-8"'},
        mimetype="text/plain",
    )


def guard() -> BaseResponse | None:
    """``before_request``: 401 without a user, 403 on a POST without the CSRF token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method not in SAFE_METHODS and not csrf_ok():
            abort(403, "missing or wrong CSRF token: reload the page")
        return None
    if current_user() is None:
        return unauthorized()
    if request.method not in SAFE_METHODS and not csrf_ok():
        abort(403, "missing or wrong CSRF token: reload the page and try again")
    return None


def admin_required(view: F) -> F:
    """403 unless the user is an admin."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None or not user.is_admin:
            abort(403, "admins only: ask an admin to act, or sign in as one")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never //host or scheme://, which would be an open redirect.
    # Browsers drop tabs and newlines from URLs ("/\t/host" is "//host"): refuse any control
    # character or space as well as backslashes.
    unsafe = any(c.isspace() or ord(c) < 32 or c == "\\" for c in target or "")
    if target and target.startswith("/") and not target.startswith("//") and not unsafe:
        return target
    return url_for("pages.campaigns")


def _throttled(address: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        recent = [t for t in _failures.get(address, []) if now - t < LOGIN_WINDOW]
        _failures[address] = recent
        return len(recent) >= LOGIN_FAILURES


def _failed(address: str) -> None:
    with _failures_lock:
        _failures.setdefault(address, []).append(time.monotonic())


@auth.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; POST signs in (a new session, a new CSRF token)."""
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=target or "", error=None, csrf=csrf_token())
    address = request.remote_addr or "?"
    if _throttled(address):
        abort(429, "too many failed sign-ins: wait a few minutes")
    user = users().verify(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        _failed(address)
        page = render_template(
            "login.html", next=target or "", error="wrong name or password", csrf=csrf_token()
        )
        return Response(page, 401, {"Content-Type": "text/html; charset=utf-8"})
    session.clear()
    session.permanent = True
    session[SESSION_USER] = user.name
    session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return redirect(_safe_next(target), code=303)


@auth.route("/logout", methods=["POST"])
def logout() -> Any:
    """Sign out (POST with the CSRF token, so another site cannot sign you out)."""
    session.clear()
    return redirect(url_for("auth.login"), code=303)
