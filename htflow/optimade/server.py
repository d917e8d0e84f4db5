"""Serving the OPTIMADE app with uvicorn: loopback by default, the dashboard's bind rules.

A loopback address may serve with or without sign-in. Any other address needs TLS
(``--cert``/``--key``, which uvicorn speaks itself) and, unless ``--public`` says the data
are for everyone, the users file, as the dashboard does. The socket is bound before the app
is built, so a port in use is a one-line error and ``--port 0`` can announce its port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fastapi import FastAPI

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5001
API_PREFIX = "/v1"


def check_bind(
    host: str, signed_in: bool, cert: Path | None = None, key: Path | None = None
) -> None:
    """Refuse a bind the OPTIMADE API should not serve (see the module docstring).

    Raises
    ------
    InputError
        Half a TLS pair, a missing file, or a non-loopback address without TLS (or without
        users when ``signed_in``).
    """
    from htflow.dashboard.server import is_loopback

    if (cert is None) != (key is None):
        raise InputError("TLS needs both --cert and --key (PEM files)")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise InputError(f"no such file: {path}")
    if is_loopback(host) or cert is not None:
        return
    raise InputError(
        f"refusing to serve the OPTIMADE API on {host} without TLS: give --cert and --key "
        f"({'and --users ' if signed_in else ''}see docs/optimade.md), or bind to {LOOPBACK}"
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port).

    Raises
    ------
    InputError
        The address cannot be bound (in use, not local, not an address).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket, tls: bool = False) -> str:
    """``http(s)://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{'https' if tls else 'http'}://{netloc}"


def serve(
    *,
    host: str = LOOPBACK,
    port: int = DEFAULT_PORT,
    uri: str | None = None,
    users_file: Path | None = None,
    public: bool = False,
    cert: Path | None = None,
    key: Path | None = None,
    public_url: str | None = None,
    announce: Any = print,
) -> None:
    """Serve the OPTIMADE API until interrupted.

    Raises
    ------
    InputError
        No users (without ``public``), a refused bind, a port in use, no database.
    DatabaseUnreachableError
        MongoDB does not answer.
    """
    import uvicorn

    from htflow.dashboard.users import UserStore
    from htflow.optimade.app import create_optimade_app

    users = None if public else UserStore.configured(users_file)
    check_bind(host, users is not None, cert, key)
    sock = bind(host, port)
    app: FastAPI | None = None
    try:
        app = create_optimade_app(uri, users=users, base_url=public_url)
        config = uvicorn.Config(
            app,
            log_level="warning",
            ssl_certfile=str(cert) if cert else None,
            ssl_keyfile=str(key) if key else None,
        )
        who = "anyone (--public)" if users is None else f"users of {users.path or 'the password'}"
        announce(
            f"htflow OPTIMADE API on {base_url(sock, cert is not None)}{API_PREFIX} "
            f"(read by {who}; Ctrl-C stops it)"
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if app is not None:
            app.state.htflow_reader.close()
        sock.close()


@contextlib.contextmanager
def serving(app: FastAPI, host: str = LOOPBACK, port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a thread of this process; yield its base URL; stop on exit.

    For tests and benchmarks: the socket is bound before the thread starts, so the URL
    answers as soon as it is yielded (requests wait in the listen queue until then).
    """
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
