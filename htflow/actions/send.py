"""Handing a request to the one writer: the agent's inbox, or the writer lock taken here."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.actions.outcome import ActionOutcome, outcome_of
from htflow.actions.requests import parse_request
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from htflow.actions.requests import Request

POLL = 0.2  # s between looks at the inbox's done/ directory


def default_agent_dir(agent_dir: str | Path | None = None) -> Path:
    """``agent_dir``, or ``<htflow home>/agent`` (where ``htflow agent`` runs by default)."""
    from htflow.settings import get_settings

    return Path(agent_dir or get_settings().home / "agent").expanduser().resolve()


def send(
    request: Request | dict[str, Any],
    *,
    agent_dir: Path | None = None,
    db_uri: str | None = None,
    wait: float = 0.0,
) -> ActionOutcome:
    """Have ``request`` applied by the database's one writer.

    When an agent holds the writer lock the request goes into its inbox
    (``<agent_dir>/inbox/<request_id>.json``) and the outcome is ``queued``; with
    ``wait`` > 0 this polls for the agent's result up to ``wait`` seconds and returns it.
    When nobody holds the lock, it takes the lock and applies the request now.

    Raises
    ------
    InputError
        The request is not valid (one line), or ``wait`` is negative.
    """
    from htflow.db import WriterLockError, get_launchpad, lock_holder, writer_lock

    if wait < 0:
        raise InputError(f"--wait must be 0 or more seconds, not {wait}")
    request = parse_request(request)
    if lock_holder(db_uri) is None:
        try:
            with writer_lock(db_uri):
                from htflow.actions.apply import apply_request

                return apply_request(get_launchpad(db_uri), request, via="direct")
        except WriterLockError:
            pass  # an agent started since we looked: it takes the request
    unknown = _unknown_campaign(request, db_uri)
    if unknown:
        return outcome_of(request, "refused", f"{unknown} (nothing queued)")
    path = write_request(request, default_agent_dir(agent_dir))
    if wait > 0:
        result = wait_for_result(path.parent, request.request_id, wait)
        if result is not None:
            return result
        return outcome_of(request, "queued", f"in {path.parent}, not applied within {wait:g} s")
    return outcome_of(request, "queued", f"in {path.parent}; the agent applies it at its next pass")


def write_request(request: Request, agent_dir: Path) -> Path:
    """Write ``request`` atomically into ``agent_dir``'s inbox; return the file."""
    from htflow.submit.inbox import write_inbox_file

    return write_inbox_file(agent_dir, request.request_id, request.model_dump(mode="json"))


def wait_for_result(inbox: Path, request_id: str, timeout: float) -> ActionOutcome | None:
    """The agent's outcome of ``request_id`` once written, or None after ``timeout`` s."""
    path = inbox / "done" / f"{request_id}.result.json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ActionOutcome.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass  # not written yet (the agent writes it atomically)
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def _unknown_campaign(request: Request, db_uri: str | None) -> str | None:
    """A read-only check before queuing, so a typo is reported now, not at the next pass."""
    from htflow.actions.campaigns import unknown_campaign
    from htflow.db import get_launchpad

    campaign = getattr(request, "campaign", None)
    if campaign is None or request.kind == "resume":
        return None
    return unknown_campaign(get_launchpad(db_uri), campaign)
