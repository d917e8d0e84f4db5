"""Leaving work for the running agent: the submitter's half of the agent's inbox.

The agent is the only writer, so a process that wants to add work while it runs does not
touch the LaunchPad: it writes a request into ``<agent dir>/inbox/`` (atomically: a
temporary name, then a rename) and the agent applies it at its next pass
(:func:`htflow.agent.inbox.process_inbox`). The inbox is created ``0700``: the agent applies
only files owned by its own user (see docs/actions.md).

:func:`queue_submission` writes a ``submit_flow`` request
(:class:`htflow.actions.requests.SubmitFlowRequest`): the serialized flow and every argument
:func:`htflow.submit.submit_flow` takes from a submitter (protocol, the job type → resources
mapping, whether to check for duplicates), so a flow submitted through the inbox gets the
same Firework specs as one submitted directly. The campaign name and priority travel inside
the flow (its jobs' manager config).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monty.json import jsanitize

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jobflow import Flow, Job

INBOX = "inbox"
INBOX_MODE = 0o700


def inbox_dir(agent_dir: str | Path) -> Path:
    """``<agent_dir>/inbox``, created ``0700`` (tightened to that if this user owns it)."""
    inbox = Path(agent_dir) / INBOX
    inbox.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        inbox.mkdir(mode=INBOX_MODE)
    info = inbox.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o777 != INBOX_MODE:
        inbox.chmod(INBOX_MODE)
    return inbox


def write_inbox_file(agent_dir: str | Path, name: str, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as ``inbox/<name>.json`` atomically (mode 0600); return the file."""
    inbox = inbox_dir(agent_dir)
    tmp = inbox / f".{name}.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)
    path = inbox / f"{name}.json"
    os.replace(tmp, path)
    return path


def queue_submission(
    flow: Flow | Job,
    agent_dir: str | Path,
    *,
    protocol: str | None = None,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    dedupe: bool = True,
) -> Path:
    """Leave ``flow`` for the running agent to submit; returns the inbox file.

    ``protocol``, ``resources`` and ``dedupe`` are :func:`htflow.submit.submit_flow`'s: the
    agent passes them on unchanged.
    """
    request_id = uuid.uuid4().hex
    payload = {
        "kind": "submit_flow",
        "request_id": request_id,
        "who": _os_user(),
        "requested_at": datetime.now(UTC).isoformat(),
        "flow": jsanitize(flow, strict=True, enum_values=True),
        "protocol": protocol,
        "resources": None if resources is None else jsanitize(resources, strict=True),
        "dedupe": dedupe,
    }
    return write_inbox_file(agent_dir, request_id, payload)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


__all__ = ["INBOX", "inbox_dir", "queue_submission", "write_inbox_file"]
