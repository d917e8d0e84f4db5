"""Submissions while the agent runs: the agent's half of its inbox.

Submitters leave serialized flows in ``<agent dir>/inbox/`` (:mod:`htflow.submit.inbox`);
the agent submits each at its next pass with the usual duplicate checks, and a result file
``inbox/done/<name>.result.json`` says what was added.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monty.json import MontyDecoder

from htflow.submit.inbox import INBOX

if TYPE_CHECKING:
    from fireworks import LaunchPad

logger = logging.getLogger(__name__)


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
