"""HTTP basic auth for the OPTIMADE API, against the dashboard's users (any role may read).

The same :class:`htflow.dashboard.users.UserStore` the dashboard signs in against: the users
file (re-read when it changes, so a removed user is refused at once) or the legacy
``HTFLOW_DASHBOARD_PASSWORD`` admin. A verified name and password is remembered for a minute
by the store, so a client paging through results pays one password hash, not one per page.
Without credentials, or with wrong ones, every route answers 401 with a JSON:API error
object and a ``WWW-Authenticate: Basic`` challenge.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from htflow.dashboard.users import User, UserStore

REALM = "htflow OPTIMADE"


def basic_credentials(header: bytes | None) -> tuple[str, str] | None:
    """``(name, password)`` of an ``Authorization: Basic …`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep and name else None


class BasicAuthMiddleware:
    """ASGI middleware: every HTTP request needs a user of ``users``."""

    def __init__(self, app: ASGIApp, users: UserStore) -> None:
        self.app = app
        self.users = users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when its basic-auth user verifies; else answer 401."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        headers = dict(scope.get("headers") or [])
        credentials = basic_credentials(headers.get(b"authorization"))
        user: User | None = None
        if credentials is not None:
            # scrypt takes ~0.15 s: never on the event loop
            user = await run_in_threadpool(self.users.verify, *credentials)
        if user is not None:
            await self.app(scope, receive, send)
            return
        response = _unauthorized(scope, "no credentials" if credentials is None else "refused")
        await response(scope, receive, send)


def _unauthorized(scope: Scope, why: str) -> Any:
    from fastapi.encoders import jsonable_encoder
    from optimade.models import ErrorResponse, OptimadeError
    from optimade.server.routers.utils import JSONAPIResponse, meta_values
    from starlette.requests import Request

    request = Request(scope)
    detail = (
        f"sign-in needed ({why}): send HTTP basic auth for a user of the htflow users file "
        "(htflow dashboard users add NAME)"
    )
    body = ErrorResponse(
        meta=meta_values(request.app.state.config, request.url, 0, 0, False),
        errors=[OptimadeError(status="401", title="Unauthorized", detail=detail)],
    )
    return JSONAPIResponse(
        status_code=401,
        content=jsonable_encoder(body, exclude_unset=True),
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )
