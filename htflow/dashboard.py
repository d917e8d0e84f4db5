"""The FireWorks web GUI over htflow's database, for admins watching campaigns.

It only reads. It binds to 127.0.0.1 unless told otherwise, and turns on HTTP basic auth
when ``dashboard_password`` is set (``HTFLOW_DASHBOARD_PASSWORD``).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from htflow.exceptions import InputError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from flask import Flask

LOOPBACK = "127.0.0.1"


def create_app(uri: str | None = None) -> Flask:
    """FireWorks' Flask app bound to the configured LaunchPad, with auth from the settings."""
    from fireworks.flask_site.app import app

    from htflow.db import get_launchpad

    settings = get_settings()
    app.lp = get_launchpad(uri)
    if settings.dashboard_password:
        app.config["WEBGUI_USERNAME"] = settings.dashboard_user
        app.config["WEBGUI_PASSWORD"] = settings.dashboard_password
    else:
        app.config["WEBGUI_USERNAME"] = None
        app.config["WEBGUI_PASSWORD"] = None
    return app


def check_bind(host: str, password: str | None) -> None:
    """Refuse to serve a non-loopback address without a password."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise InputError(f"dashboard host {host!r} is not an IP address or 'localhost'") from exc
    if not loopback and not password:
        raise InputError(
            f"refusing to serve the dashboard on {host} without a password: "
            "set HTFLOW_DASHBOARD_PASSWORD or bind to 127.0.0.1"
        )


def serve(host: str = LOOPBACK, port: int = 5000, uri: str | None = None) -> None:
    """Serve the dashboard until interrupted."""
    settings = get_settings()
    check_bind(host, settings.dashboard_password)
    app = create_app(uri)
    app.run(host=host, port=port, debug=False, use_reloader=False)
