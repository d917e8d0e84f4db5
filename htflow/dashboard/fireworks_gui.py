"""FireWorks' own web GUI under ``/fireworks``, behind the dashboard's sign-in.

FireWorks' Flask app guards its pages with a decorator that its report figure route
(``/reports/<coll>/<interval>/<n>/fig.png``) lacks, so that figure was public whatever the
password. Here no FireWorks route is reached without a signed-in user: the check runs in a
WSGI layer in front of the whole mounted app, with the dashboard's own session and basic
auth, before FireWorks sees the request. FireWorks' GUI only reads, so only GET and HEAD
pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

PREFIX = "/fireworks"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def fireworks_app(lp: Any, secure: bool) -> Flask:
    """FireWorks' (module-level) Flask app bound to ``lp``, its own auth off (ours is in front)."""
    from fireworks.flask_site.app import app

    app.lp = lp
    app.config.update(
        WEBGUI_USERNAME=None,
        WEBGUI_PASSWORD=None,
        # Its session (query filters) must not overwrite the dashboard's login cookie.
        SESSION_COOKIE_NAME="fireworks_session",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure,
    )
    return app


class FireworksMount:
    """WSGI: ``/fireworks/...`` to FireWorks' app for signed-in users; the rest to ``inner``.

    Parameters
    ----------
    dashboard
        The dashboard's Flask app (its session and users decide who is signed in).
    inner
        The dashboard's own WSGI callable.
    fireworks
        FireWorks' Flask app.
    """

    def __init__(self, dashboard: Flask, inner: WSGIApplication, fireworks: Flask) -> None:
        self.dashboard = dashboard
        self.inner = inner
        self.fireworks = fireworks

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return self.inner(environ, start_response)
        refusal = self._refusal(environ)
        if refusal is not None:
            return refusal(environ, start_response)
        mounted = dict(environ)
        mounted["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        mounted["PATH_INFO"] = path[len(PREFIX) :] or "/"

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k.lower() not in present]
            return start_response(status, headers + extra, exc_info)

        return self.fireworks(mounted, start)

    def _refusal(self, environ: WSGIEnvironment) -> Any:
        from htflow.dashboard.auth import current_user, unauthorized

        with self.dashboard.request_context(environ):
            if current_user() is None:
                # process_response saves the session: the login form's CSRF token lives there
                return self.dashboard.process_response(unauthorized())
            if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
                refused = Response("FireWorks' GUI only reads\n", 405, {"Allow": "GET, HEAD"})
                return self.dashboard.process_response(refused)
        return None
