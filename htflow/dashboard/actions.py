"""Admin actions from the browser, and the audit page.

Each form POSTs here (with the session's CSRF token, checked before any view runs). The view
builds the same typed request the CLI builds (:mod:`htflow.actions`) with the signed-in user
as ``who``, hands it to :func:`htflow.actions.send` (the agent's inbox, or applied under the
writer lock when no agent runs) and shows the outcome. The dashboard itself never writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, render_template, request

from htflow.dashboard.app import db_uri
from htflow.dashboard.auth import admin_required, current_user

if TYPE_CHECKING:
    from htflow.actions import ActionOutcome

actions = Blueprint("actions", __name__)
AGENT_DIR_KEY = "HTFLOW_AGENT_DIR"
ACTION_WAIT_KEY = "HTFLOW_ACTION_WAIT"
MAX_PRIORITY = 1_000_000


def _who() -> str:
    user = current_user()
    assert user is not None  # the guard let only signed-in users through
    return user.name


def _send(request_obj: Any) -> ActionOutcome:
    from htflow.actions import send

    return send(
        request_obj,
        agent_dir=current_app.config.get(AGENT_DIR_KEY),
        db_uri=db_uri(),
        wait=float(current_app.config.get(ACTION_WAIT_KEY, 5.0)),
    )


def _outcome(outcome: ActionOutcome, campaign: str | None, back: str) -> str:
    return render_template("outcome.html", outcome=outcome, campaign=campaign, back=back)


def _campaign_of(fw_id: int) -> str:
    from htflow.db.scan import scan
    from htflow.launch.spec import CAMPAIGN_KEY

    rows = scan(db_uri(), "fireworks", [f"spec.{CAMPAIGN_KEY}"], {"fw_id": fw_id})
    if not rows:
        abort(404, f"no Firework {fw_id}")
    name = rows[0].get(f"spec.{CAMPAIGN_KEY}")
    if not isinstance(name, str):
        abort(400, f"Firework {fw_id} belongs to no campaign")
    return name


@actions.route("/campaign/<name>/rerun", methods=["POST"])
@admin_required
def rerun_cause(name: str) -> str:
    """Rerun the campaign's FIZZLED Fireworks that failed for one cause."""
    from htflow.actions import RerunRequest

    cause = request.form.get("cause") or None
    outcome = _send(
        RerunRequest(
            campaign=name,
            cause=cause,
            reset_retries=request.form.get("reset_retries") == "on",
            who=_who(),
        )
    )
    return _outcome(outcome, name, f"/campaign/{name}")


@actions.route("/fw/<int:fw_id>/rerun", methods=["POST"])
@admin_required
def rerun_firework(fw_id: int) -> str:
    """Rerun one Firework (its launch history is kept as archived launches)."""
    from htflow.actions import RerunRequest

    name = _campaign_of(fw_id)
    outcome = _send(
        RerunRequest(
            campaign=name,
            fw_ids=[fw_id],
            reset_retries=request.form.get("reset_retries") == "on",
            who=_who(),
        )
    )
    return _outcome(outcome, name, f"/fw/{fw_id}")


@actions.route("/campaign/<name>/<verb>", methods=["POST"])
@admin_required
def control(name: str, verb: str) -> str:
    """Pause, resume, cancel, or set the priority (form field ``priority``) of a campaign."""
    from htflow.actions import CancelRequest, PauseRequest, PriorityRequest, ResumeRequest

    simple = {"pause": PauseRequest, "resume": ResumeRequest, "cancel": CancelRequest}
    if verb in simple:
        request_obj: Any = simple[verb](campaign=name, who=_who())
    elif verb == "priority":
        try:
            priority = int(request.form.get("priority", ""))
        except ValueError:
            abort(400, "priority: give a whole number")
        if abs(priority) > MAX_PRIORITY:
            abort(400, f"priority: between -{MAX_PRIORITY} and {MAX_PRIORITY}")
        request_obj = PriorityRequest(campaign=name, priority=priority, who=_who())
    else:
        abort(404)
    return _outcome(_send(request_obj), name, f"/campaign/{name}")


@actions.route("/audit")
def audit() -> str:
    """Who did what, when, and what came of it (``?campaign=`` for one campaign)."""
    from htflow.actions import audit_log

    campaign = request.args.get("campaign") or None
    entries = audit_log(db_uri(), campaign=campaign, limit=200)
    return render_template("audit.html", entries=entries, campaign=campaign)
