"""The agent's half of its inbox: read each request it trusts, apply it, file the result.

Each ``<agent dir>/inbox/<name>.json`` is, in name order:

1. read only if it is a regular file owned by the agent's user, in an inbox directory the
   agent owns and nobody else may enter (:mod:`htflow.actions.trust`);
2. parsed by :func:`htflow.actions.requests.parse_request` (the allowlist of kinds; nothing
   is decoded by a class name it carries; a flow's modules are checked before decoding);
3. applied and audited (:func:`htflow.actions.apply.apply_request`);
4. answered in ``inbox/done/<name>.result.json`` (the :class:`ActionOutcome`, plus the
   counts earlier callers read: ``file``, ``submitted``, ``n_jobs``, ``error``) and moved
   to ``inbox/done/`` when applied, ``inbox/refused/`` when refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from typing import TYPE_CHECKING, Any

from htflow.actions.apply import apply_request, refuse_unreadable
from htflow.actions.outcome import outcome_of
from htflow.actions.requests import parse_request
from htflow.actions.trust import read_owned_file, secure_inbox
from htflow.exceptions import HtflowError, InputError
from htflow.submit.inbox import INBOX

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")
DONE = "done"
REFUSED = "refused"
# Files queue_submission wrote before requests had a kind: a flow and its options.
_LEGACY_KEYS = {"flow", "protocol", "resources", "dedupe"}


def process_inbox(
    lp: LaunchPad, agent_dir: Path, profile: ClusterProfile | None = None
) -> list[dict[str, Any]]:
    """Apply every request waiting in the inbox (the caller holds the writer lock).

    Returns one summary per file: the outcome's fields, plus ``file``, ``submitted`` (a
    flow was added), ``n_jobs`` and, when refused, ``error``.
    """
    inbox = agent_dir / INBOX
    if not secure_inbox(inbox):
        return []
    summaries = []
    for path in sorted(inbox.glob("*.json")):
        outcome = _process_file(lp, path, profile)
        summary = {
            **outcome.model_dump(mode="json"),
            "file": path.name,
            "submitted": outcome.kind == "submit_flow" and bool(outcome.n_fireworks),
        }
        if outcome.status == "refused":
            summary["error"] = outcome.message
        _file_away(inbox, path, summary, outcome.status == "refused")
        logger.info("inbox %s: %s", path.name, outcome.line())
        summaries.append(summary)
    return summaries


def _process_file(lp: LaunchPad, path: Path, profile: ClusterProfile | None) -> ActionOutcome:
    name_id = path.stem if re.fullmatch(r"[0-9a-f]{32}", path.stem) else uuid.uuid4().hex
    payload: Any = None
    try:
        payload = json.loads(read_owned_file(path))
        if isinstance(payload, dict) and "kind" not in payload and set(payload) <= _LEGACY_KEYS:
            payload = {**payload, "kind": "submit_flow", "request_id": name_id}
        request = parse_request(payload)
    except (InputError, ValueError) as exc:
        reason = f"{path.name}: {str(exc).splitlines()[0][:300]}"
        return refuse_unreadable(lp, name_id, reason, payload, via="inbox")
    try:
        return apply_request(lp, request, via="inbox", profile=profile)
    except HtflowError as exc:  # apply_request turns these into refusals; belt and braces
        return outcome_of(request, "refused", str(exc))
    except Exception as exc:  # a bad request must not stop the agent (audited as refused)
        logger.exception("inbox request %s failed", request.request_id)
        return outcome_of(request, "refused", f"failed: {type(exc).__name__}: {exc}"[:300])


def _file_away(inbox: Path, path: Path, summary: dict[str, Any], refused: bool) -> None:
    """Write the result (atomically), then move the request out of the inbox."""
    done = _private_dir(inbox / DONE)
    result = done / f"{path.stem}.result.json"
    tmp = done / f".{path.stem}.result.json.tmp"
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, result)
    os.replace(path, _private_dir(inbox / (REFUSED if refused else DONE)) / path.name)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, exist_ok=True)
    return path
