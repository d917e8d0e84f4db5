"""JSON for the pages' polling and for scripts (basic auth works here)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from htflow.dashboard.app import CACHE_TTL_KEY, db_uri, snapshots
from htflow.dashboard.paging import page_number

api = Blueprint("api", __name__, url_prefix="/api")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _campaigns() -> list[dict[str, Any]]:
    from htflow.dashboard.campaigns import campaign_list

    uri = db_uri()
    ttl = float(current_app.config[CACHE_TTL_KEY])
    return snapshots().get(("campaigns", uri), ttl, lambda: campaign_list(uri))


@api.route("/campaigns")
def campaigns() -> Any:
    """Every campaign's counts by state, progress and admin state."""
    return jsonify({"campaigns": {c["name"]: c for c in _campaigns()}, "updated": _now()})


@api.route("/campaign/<name>/counts")
def counts(name: str) -> Any:
    """One campaign's counts by state, total, completed, paused/cancelled/priority."""
    row = next((c for c in _campaigns() if c["name"] == name), None)
    if row is None:
        abort(404, f"no Firework belongs to a campaign {name!r}")
    return jsonify({**row, "updated": _now()})


@api.route("/campaign/<name>/fireworks")
def fireworks(name: str) -> Any:
    """A page (50) of the campaign's Fireworks by fw_id: ``?state=`` and ``?page=``."""
    from htflow.dashboard.campaigns import fireworks_page

    page = fireworks_page(
        db_uri(), name, request.args.get("state") or None, page_number(request.args.get("page"))
    )
    return jsonify(
        {
            "page": page.number,
            "pages": page.pages,
            "per_page": page.per_page,
            "total": page.total,
            "fireworks": page.items,
        }
    )
