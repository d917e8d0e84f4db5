"""A campaign's Fireworks, as the actions see them (``spec.htflow_campaign``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.actions.store import campaigns
from htflow.launch.spec import CAMPAIGN_KEY

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fireworks import LaunchPad

# Fireworks that have not started: what pause holds back and cancel defuses.
NOT_STARTED = ("WAITING", "READY", "PAUSED")


def campaign_query(campaign: str | None, states: Iterable[str] | None = None) -> dict[str, Any]:
    """The Firework query of ``campaign`` (None: every campaign) in ``states`` (None: any)."""
    query: dict[str, Any] = {f"spec.{CAMPAIGN_KEY}": campaign} if campaign is not None else {}
    if states is not None:
        query["state"] = {"$in": list(states)}
    return query


def fw_ids_of(
    lp: LaunchPad, campaign: str | None, states: Iterable[str] | None = None
) -> list[int]:
    """fw_ids of ``campaign``'s Fireworks in ``states``, ascending."""
    docs = lp.fireworks.find(campaign_query(campaign, states), {"fw_id": 1})
    return sorted(int(d["fw_id"]) for d in docs)


def known_campaigns(lp: LaunchPad) -> list[str]:
    """Campaign names in the LaunchPad."""
    names = lp.fireworks.distinct(f"spec.{CAMPAIGN_KEY}")
    return sorted(str(n) for n in names if n)


def unknown_campaign(lp: LaunchPad, campaign: str) -> str | None:
    """A one-line refusal when no Firework (and no earlier action) names ``campaign``."""
    if lp.fireworks.find_one(campaign_query(campaign), {"fw_id": 1}) is not None:
        return None
    if campaigns(lp).find_one({"campaign": campaign}, {"campaign": 1}) is not None:
        return None
    known = known_campaigns(lp)
    shown = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
    return f"unknown campaign {campaign!r} (known: {shown or 'none'})"
