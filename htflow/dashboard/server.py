"""Serving the dashboard: waitress over plain HTTP on loopback, gunicorn for TLS.

waitress is a production WSGI server but does not speak TLS (its asyncore channels cannot
wrap an ``ssl`` socket, which needs its non-blocking reads and writes retried). With a
certificate and key the dashboard is served by gunicorn instead (threaded worker, TLS with
``certfile``/``keyfile``), one worker process so that sessions signed by the process's
random key stay valid. A non-loopback address needs both TLS and a users file.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from flask import Flask

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5000
THREADS = 8


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise InputError(f"dashboard host {host!r} is not an IP address or 'localhost'") from exc


def check_bind(
    host: str, users_file: Path | None, cert: Path | None = None, key: Path | None = None
) -> None:
    """Refuse a bind the dashboard should not serve.

    Parameters
    ----------
    host
        Address to bind.
    users_file
        The users file in use (None: the legacy ``HTFLOW_DASHBOARD_PASSWORD`` admin).
    cert, key
        TLS certificate and private key (PEM), both or neither.

    Raises
    ------
    InputError
        A non-loopback address without a users file and TLS, half a TLS pair, or a missing file.
    """
    if (cert is None) != (key is None):
        raise InputError("TLS needs both --cert and --key (PEM files)")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise InputError(f"no such file: {path}")
    if is_loopback(host):
        return
    missing = [
        what
        for what, ok in (("TLS (--cert, --key)", cert is not None), ("a users file", users_file))
        if not ok
    ]
    if missing:
        raise InputError(
            f"refusing to serve the dashboard on {host} without {' and '.join(missing)}: "
            "give --cert, --key and --users (htflow dashboard users add), or bind to 127.0.0.1"
        )


def serve(
    *,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    uri: str | None = None,
    users_file: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    agent_dir: Path | None = None,
    announce: Any = print,
) -> None:
    """Serve the dashboard until interrupted (see the module docstring for the servers).

    Raises
    ------
    InputError
        No users, or a bind :func:`check_bind` refuses.
    """
    from htflow.dashboard.users import UserStore

    users = UserStore.configured(users_file)
    check_bind(host, users.path, cert, key)
    scheme = "https" if cert else "http"
    where = users.path or "HTFLOW_DASHBOARD_PASSWORD (one admin)"
    if cert is not None and key is not None:
        announce(f"htflow dashboard on {scheme}://{_netloc(host, port)} (users: {where})")
        _serve_tls(lambda: build_app(uri, users, True, agent_dir), host, port, cert, key)
        return
    from waitress import create_server

    server: Any = create_server(
        build_app(uri, users, False, agent_dir), host=host, port=port, threads=THREADS
    )
    announce(
        f"htflow dashboard on {scheme}://{_netloc(host, server.effective_port)} "
        f"(users: {where}; Ctrl-C stops it)"
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def build_app(uri: str | None, users: Any, tls: bool, agent_dir: Path | None) -> Flask:
    """The app as served (the admin actions' agent directory in its config)."""
    from htflow.dashboard.actions import AGENT_DIR_KEY
    from htflow.dashboard.app import create_app

    app = create_app(uri, users, tls=tls)
    app.config[AGENT_DIR_KEY] = agent_dir
    return app


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _serve_tls(factory: Any, host: str, port: int, cert: Path, key: Path) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": _netloc(host, port),
                "workers": 1,
                "worker_class": "gthread",
                "threads": THREADS,
                "certfile": str(cert),
                "keyfile": str(key),
                "timeout": 120,
                "graceful_timeout": 10,
                "accesslog": "-",
                "errorlog": "-",
            }
            # gunicorn ≥ 25 also opens an admin socket under ~/.gunicorn: not ours to offer.
            if "control_socket_disable" in self.cfg.settings:
                options["control_socket_disable"] = True
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return factory()  # in the worker, after the fork: no SQLite handle crosses it

    _Server().run()
