"""Requests while the agent runs: the agent's half of its inbox.

Submitters and admins leave requests in ``<agent dir>/inbox/`` (flows from
:mod:`htflow.submit.inbox`; rerun, pause, cancel… from :func:`htflow.actions.send`). At
each pass the agent applies them through :func:`htflow.actions.inbox.process_inbox`, which
reads only files of the agent's own user, parses them against the allowlist of request
kinds and checks a flow's modules before decoding it; ``inbox/done/<name>.result.json``
says what was done. See docs/actions.md.
"""

from __future__ import annotations

from htflow.actions.inbox import process_inbox
from htflow.submit.inbox import INBOX

__all__ = ["INBOX", "process_inbox"]
