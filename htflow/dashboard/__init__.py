"""The campaign dashboard (``htflow dashboard``): server-rendered pages over the database.

Modules: :mod:`~htflow.dashboard.app` (the app factory), :mod:`~htflow.dashboard.auth`
(sign-in, roles, CSRF) and :mod:`~htflow.dashboard.users` (the users file),
:mod:`~htflow.dashboard.pages`, :mod:`~htflow.dashboard.api` and
:mod:`~htflow.dashboard.actions` (the routes), :mod:`~htflow.dashboard.campaigns`,
:mod:`~htflow.dashboard.firework`, :mod:`~htflow.dashboard.materials` (what the pages
show), :mod:`~htflow.dashboard.fireworks_gui` (FireWorks' GUI under ``/fireworks``) and
:mod:`~htflow.dashboard.server` (waitress, or gunicorn for TLS). It reads the stores and
writes nothing: an admin action is a request handed to :func:`htflow.actions.send`.
See docs/dashboard.md.
"""

from __future__ import annotations

from htflow.dashboard.app import create_app
from htflow.dashboard.server import LOOPBACK, check_bind, serve

__all__ = ["LOOPBACK", "check_bind", "create_app", "serve"]
