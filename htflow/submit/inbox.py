"""Leaving a flow for the running agent: the submitter's half of the agent's inbox.

The agent is the only writer, so a process that wants to add work while it runs does not
touch the LaunchPad: it writes the serialized flow into ``<agent dir>/inbox/`` (atomically:
a temporary name, then a rename) and the agent submits it at its next pass
(:func:`htflow.agent.inbox.process_inbox`), with the usual duplicate checks.

The file carries every argument :func:`htflow.submit.submit_flow` takes from a submitter
(protocol, the job type → resources mapping, whether to check for duplicates), so a flow
submitted through the inbox gets the same Firework specs as one submitted directly. The
campaign name and priority travel inside the flow (its jobs' manager config).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monty.json import jsanitize

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jobflow import Flow, Job

INBOX = "inbox"


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
    inbox = Path(agent_dir) / INBOX
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.json"
    payload = {
        "flow": jsanitize(flow, strict=True, enum_values=True),
        "protocol": protocol,
        "resources": None if resources is None else jsanitize(resources, strict=True),
        "dedupe": dedupe,
    }
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, inbox / name)
    return inbox / name


__all__ = ["INBOX", "queue_submission"]
