"""Admin actions from the browser, and the audit page.

Each form POSTs here (with the session's CSRF token, checked before any view runs). The view
builds the payload the CLI builds, parsed by :func:`htflow.actions.parse_request` (the one
allowlist), with the signed-in user as ``who``, and hands it to :func:`htflow.actions.send`
(the agent's inbox, or applied under the writer lock when no agent runs), then shows the
outcome. The dashboard itself never writes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for

from htflow.dashboard.app import db_uri
from htflow.dashboard.auth import admin_required, current_user

actions = Blueprint("actions", __name__)
AGENT_DIR_KEY = "HTFLOW_AGENT_DIR"
ACTION_WAIT_KEY = "HTFLOW_ACTION_WAIT"


def _who() -> str:
    user = current_user()
    assert user is not None  # the guard let only signed-in users through
    return user.name


def _act(payload: dict[str, Any], back: str) -> Any:
    """Parse ``payload`` as the CLI does, send it as the signed-in user, show the outcome."""
    from htflow.actions import parse_request, send
    from htflow.exceptions import InputError

    try:
        request_obj = parse_request({**payload, "who": _who()})
    except InputError as exc:
        abort(400, str(exc))
    outcome = send(
        request_obj,
        agent_dir=current_app.config.get(AGENT_DIR_KEY),
        db_uri=db_uri(),
        wait=float(current_app.config.get(ACTION_WAIT_KEY, 5.0)),
    )
    page = render_template(
        "outcome.html", outcome=outcome, campaign=payload.get("campaign"), back=back
    )
    return page, 200 if outcome.status != "refused" else 409


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


def _reset() -> bool:
    return request.form.get("reset_retries") == "on"


@actions.route("/campaign/<name>/rerun", methods=["POST"])
@admin_required
def rerun_cause(name: str) -> Any:
    """Rerun the campaign's FIZZLED Fireworks that failed for one cause (form ``cause``)."""
    payload = {
        "kind": "rerun",
        "campaign": name,
        "cause": request.form.get("cause") or None,
        "reset_retries": _reset(),
    }
    return _act(payload, url_for("pages.campaign", name=name))


@actions.route("/fw/<int:fw_id>/rerun", methods=["POST"])
@admin_required
def rerun_firework(fw_id: int) -> Any:
    """Rerun one Firework (its earlier launches stay, archived)."""
    payload = {
        "kind": "rerun",
        "campaign": _campaign_of(fw_id),
        "fw_ids": [fw_id],
        "reset_retries": _reset(),
    }
    return _act(payload, url_for("pages.firework", fw_id=fw_id))


@actions.route("/campaign/<name>/<verb>", methods=["POST"])
@admin_required
def control(name: str, verb: str) -> Any:
    """Pause, resume, cancel, or set the priority (form field ``priority``) of a campaign."""
    payload: dict[str, Any] = {"kind": verb, "campaign": name}
    if verb == "priority":
        try:
            payload["priority"] = int(request.form.get("priority", ""))
        except ValueError:
            abort(400, "priority: give a whole number")
    elif verb not in ("pause", "resume", "cancel"):
        abort(404)
    return _act(payload, url_for("pages.campaign", name=name))


@actions.route("/audit")
def audit() -> str:
    """Who did what, when, and what came of it (``?campaign=`` for one campaign)."""
    from htflow.actions import audit_log

    campaign = request.args.get("campaign") or None
    entries = audit_log(db_uri(), campaign=campaign, limit=200)
    return render_template("audit.html", entries=entries, campaign=campaign)
