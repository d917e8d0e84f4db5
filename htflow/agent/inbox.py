"""Submissions while the agent runs: flows dropped into its inbox, submitted by the agent.

The agent is the only writer, so a process that wants to add work while it runs does not
touch the LaunchPad: it writes the serialized flow into ``<agent dir>/inbox/`` (atomically:
a temporary name, then a rename) and the agent submits it at its next pass, with the usual
duplicate checks. A result file ``inbox/done/<name>.result.json`` says what was added.

The file carries every argument :func:`htflow.submit.submit_flow` takes from a submitter
(protocol, the job type → resources mapping, whether to check for duplicates), so a flow
submitted through the inbox gets the same Firework specs as one submitted directly. The
campaign name and priority travel inside the flow (its jobs' manager config).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monty.json import MontyDecoder, jsanitize

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fireworks import LaunchPad
    from jobflow import Flow, Job

logger = logging.getLogger(__name__)

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


def process_inbox(lp: LaunchPad, agent_dir: Path) -> list[dict[str, Any]]:
    """Submit every flow waiting in the inbox (the caller holds the writer lock)."""
    from htflow.submit import submit_flow

    inbox = agent_dir / INBOX
    if not inbox.is_dir():
        return []
    done = inbox / "done"
    results = []
    for path in sorted(inbox.glob("*.json")):
        try:
            payload = json.loads(path.read_text())
            flow = MontyDecoder().process_decoded(payload["flow"])
            result = submit_flow(
                flow,
                lp,
                protocol=payload.get("protocol"),
                resources=payload.get("resources"),
                dedupe=payload.get("dedupe", True),  # files from before the key existed
            )
            summary = {
                "file": path.name,
                "submitted": result.submitted,
                "n_jobs": result.n_jobs,
                "fw_ids": sorted(result.fw_ids.values()),
                "duplicates": len(result.duplicates),
            }
        except Exception as exc:  # a bad file must not stop the agent
            logger.exception("inbox file %s could not be submitted", path.name)
            summary = {"file": path.name, "submitted": False, "error": str(exc)[:300]}
        done.mkdir(exist_ok=True)
        (done / f"{path.stem}.result.json").write_text(json.dumps(summary))
        os.replace(path, done / path.name)
        logger.info(
            "inbox %s: %s", path.name, "submitted" if summary["submitted"] else "nothing added"
        )
        results.append(summary)
    return results
