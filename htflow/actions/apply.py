"""Applying a request: one function per kind, every outcome audited.

Only the holder of the writer lock calls :func:`apply_request`: the agent at its next pass
(for requests in its inbox) or :func:`htflow.actions.send` when no agent runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from htflow.actions.cancel import cancel
from htflow.actions.outcome import ActionOutcome, outcome_of
from htflow.actions.pause import pause, resume
from htflow.actions.priority import set_priority
from htflow.actions.rerun import rerun
from htflow.actions.store import record_audit
from htflow.actions.submission import submit
from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fireworks import LaunchPad

    from htflow.actions.requests import Request
    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")

APPLIERS: dict[str, Callable[[LaunchPad, Any, ClusterProfile | None], ActionOutcome]] = {
    "rerun": rerun,
    "pause": pause,
    "resume": resume,
    "cancel": cancel,
    "priority": set_priority,
    "submit_flow": submit,
}


def apply_request(
    lp: LaunchPad, request: Request, *, via: str, profile: ClusterProfile | None = None
) -> ActionOutcome:
    """Apply ``request`` and audit it (the caller holds the writer lock).

    An :class:`htflow.exceptions.HtflowError` (unknown campaign, nothing to rerun, an
    untrusted module…) makes the outcome ``refused`` with its one line. Any other error is
    audited as refused, then raised.
    """
    params = request.model_dump(mode="json")
    try:
        outcome = APPLIERS[request.kind](lp, request, profile)
    except HtflowError as exc:
        outcome = outcome_of(request, "refused", str(exc))
    except Exception as exc:
        outcome = outcome_of(request, "refused", f"failed: {type(exc).__name__}: {exc}"[:300])
        record_audit(lp, outcome, params, via=via)
        raise
    record_audit(lp, outcome, params, via=via)
    logger.info(
        "%s request %s by %s (%s): %s",
        request.kind,
        request.request_id,
        request.who,
        via,
        outcome.line(),
    )
    return outcome


def refuse_unreadable(
    lp: LaunchPad, request_id: str, reason: str, payload: dict[str, Any] | None, *, via: str
) -> ActionOutcome:
    """Audit a file that is not a request we apply (unreadable, unknown kind, untrusted)."""
    payload = payload if isinstance(payload, dict) else {}
    kind = payload.get("kind") if payload.get("kind") in APPLIERS else "?"
    outcome = ActionOutcome(
        request_id=request_id,
        kind=str(kind),
        status="refused",
        message=reason,
        campaign=payload.get("campaign") if isinstance(payload.get("campaign"), str) else None,
    )
    audited = {k: v for k, v in payload.items() if k in ("who", "requested_at", "kind")}
    record_audit(lp, outcome, {k: str(v)[:200] for k, v in audited.items()}, via=via)
    logger.warning("inbox request %s refused: %s", request_id, reason)
    return outcome
