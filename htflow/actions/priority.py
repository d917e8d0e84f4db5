"""``priority``: FireWorks' ``_priority`` of a campaign's unfinished Fireworks (higher first).

The priority is also recorded with the campaign, and the claim step gives it to the
campaign's READY Fireworks that lack it (added later by a submission or a job's response)
before it picks the highest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.actions.campaigns import campaign_query, unknown_campaign
from htflow.actions.outcome import outcome_of
from htflow.actions.store import campaigns, set_campaign_state
from htflow.exceptions import InputError
from htflow.launch.spec import PRIORITY_KEY

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.actions.requests import PriorityRequest

UNFINISHED = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED", "DEFUSED", "FIZZLED")


def set_priority(lp: LaunchPad, request: PriorityRequest, _profile: Any = None) -> ActionOutcome:
    """Set the priority of ``request.campaign``'s unfinished Fireworks and record it."""
    campaign, priority = request.campaign, request.priority
    if reason := unknown_campaign(lp, campaign):
        raise InputError(reason)
    set_campaign_state(lp, campaign, request.who, priority=priority)
    query = campaign_query(campaign, UNFINISHED)
    fw_ids = sorted(d["fw_id"] for d in lp.fireworks.find(query, {"fw_id": 1}))
    lp.fireworks.update_many(query, {"$set": {f"spec.{PRIORITY_KEY}": priority}})
    message = f"campaign {campaign}: priority {priority} on its unfinished Fireworks"
    return outcome_of(request, "applied", message, fw_ids)


def apply_recorded_priorities(lp: LaunchPad) -> int:
    """Give each campaign's recorded priority to its READY Fireworks that lack it; how many."""
    changed = 0
    for doc in campaigns(lp).find({"priority": {"$ne": None}}, {"campaign": 1, "priority": 1}):
        query = campaign_query(doc["campaign"], ("READY",))
        query[f"spec.{PRIORITY_KEY}"] = {"$ne": doc["priority"]}
        result = lp.fireworks.update_many(
            query, {"$set": {f"spec.{PRIORITY_KEY}": doc["priority"]}}
        )
        changed += int(result.modified_count)
    return changed
