"""Admin actions on campaigns: typed requests, applied by the one writer and audited.

The dashboard and the CLI build a request (:mod:`htflow.actions.requests`) and call
:func:`send`: when an agent holds the writer lock the request goes into its inbox and the
agent applies it at its next pass; otherwise ``send`` takes the lock and applies it at once.
:func:`audit_log` and :func:`campaign_states` are the read side. See docs/actions.md.
"""

from __future__ import annotations

from htflow.actions.outcome import ActionOutcome
from htflow.actions.requests import (
    CancelRequest,
    PauseRequest,
    PriorityRequest,
    Request,
    RerunRequest,
    ResumeRequest,
    SubmitFlowRequest,
    parse_request,
)
from htflow.actions.send import send
from htflow.actions.store import audit_log, campaign_states

__all__ = [
    "ActionOutcome",
    "CancelRequest",
    "PauseRequest",
    "PriorityRequest",
    "Request",
    "RerunRequest",
    "ResumeRequest",
    "SubmitFlowRequest",
    "audit_log",
    "campaign_states",
    "parse_request",
    "send",
]
