"""Two collections next to the LaunchPad: the campaigns' admin state and the audit trail.

``htflow_campaigns``
    One document per campaign an admin has acted on: ``campaign``, ``paused``,
    ``cancelled``, ``priority`` (None: never set), ``updated_at``, ``updated_by``. The
    agent's claim step reads ``paused`` and ``cancelled``; submission reads ``priority``.
``htflow_audit``
    One document per request the writer saw, applied or refused: ``request_id``, ``kind``,
    ``who``, ``requested_at``, ``applied_at`` (ISO 8601, UTC), ``campaign``, ``params`` (the
    request's own fields), ``n_fireworks``, ``fw_ids``, ``status``, ``message``, ``via``
    (``inbox`` or ``direct``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from pymongo.collection import Collection

    from htflow.actions.outcome import ActionOutcome

CAMPAIGNS = "htflow_campaigns"
AUDIT = "htflow_audit"
# The audit keeps the request's parameters, not a serialized flow (that is in the LaunchPad).
_NOT_PARAMS = {"request_id", "kind", "who", "requested_at", "flow"}


def campaigns(lp: LaunchPad) -> Collection[dict[str, Any]]:
    """The campaign-state collection."""
    collection: Collection[dict[str, Any]] = lp.db[CAMPAIGNS]
    return collection


def audit(lp: LaunchPad) -> Collection[dict[str, Any]]:
    """The audit collection."""
    collection: Collection[dict[str, Any]] = lp.db[AUDIT]
    return collection


def now_iso() -> str:
    """The current UTC time, ISO 8601 (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def set_campaign_state(lp: LaunchPad, campaign: str, who: str, **fields: Any) -> None:
    """Update ``fields`` (``paused``, ``cancelled``, ``priority``) of ``campaign``'s state."""
    defaults = {"paused": False, "cancelled": False, "priority": None}
    for name in fields:
        defaults.pop(name, None)
    campaigns(lp).update_one(
        {"campaign": campaign},
        {
            "$set": {**fields, "updated_at": now_iso(), "updated_by": who},
            "$setOnInsert": {"campaign": campaign, **defaults},
        },
        upsert=True,
    )


def held_campaigns(lp: LaunchPad) -> list[str]:
    """Campaigns whose Fireworks must not be claimed: paused or cancelled."""
    query = {"$or": [{"paused": True}, {"cancelled": True}]}
    return sorted(d["campaign"] for d in campaigns(lp).find(query, {"campaign": 1}))


def campaign_priority(lp: LaunchPad, campaign: str) -> int | None:
    """The priority an admin set for ``campaign`` (None: never set)."""
    doc = campaigns(lp).find_one({"campaign": campaign}, {"priority": 1})
    return None if doc is None else doc.get("priority")


def record_audit(
    lp: LaunchPad, outcome: ActionOutcome, request: dict[str, Any], *, via: str
) -> None:
    """Append one audit entry: ``request`` is the request's JSON (or what could be read)."""
    params = {k: v for k, v in request.items() if k not in _NOT_PARAMS and k != "campaign"}
    if isinstance(request.get("flow"), dict):
        params["flow_name"] = request["flow"].get("name")
    audit(lp).insert_one(
        {
            "request_id": outcome.request_id,
            "kind": outcome.kind,
            "who": str(request.get("who") or "unknown"),
            "requested_at": str(request.get("requested_at") or ""),
            "applied_at": now_iso(),
            "campaign": outcome.campaign,
            "params": params,
            "n_fireworks": outcome.n_fireworks,
            "fw_ids": outcome.fw_ids,
            "status": outcome.status,
            "message": outcome.message,
            "via": via,
        }
    )


def audit_log(
    db_uri: str | None = None, campaign: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The latest ``limit`` audit entries (of ``campaign``, or all), newest first."""
    from htflow.db import get_launchpad

    query = {"campaign": campaign} if campaign else {}
    cursor = audit(get_launchpad(db_uri)).find(query, {"_id": 0})
    return list(cursor.sort("applied_at", -1).limit(max(0, limit)))


def campaign_states(db_uri: str | None = None) -> dict[str, dict[str, Any]]:
    """Campaign → ``{"paused", "cancelled", "priority", "updated_at", "updated_by"}``."""
    from htflow.db import get_launchpad

    docs = campaigns(get_launchpad(db_uri)).find({}, {"_id": 0, "cancelled_fw_ids": 0})
    return {d.pop("campaign"): d for d in docs}
