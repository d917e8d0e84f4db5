"""``pause`` and ``resume``: hold a campaign's new launches back, and let them go again.

A paused (or cancelled) campaign is skipped by the agent's claim step, whenever its
Fireworks become READY. Pausing also puts back the launches the agent claimed but has not
handed to an allocation; launches already in an allocation's queue run as if started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.actions.campaigns import NOT_STARTED, fw_ids_of, unknown_campaign
from htflow.actions.launches import put_back_unsubmitted
from htflow.actions.outcome import outcome_of
from htflow.actions.store import campaigns, set_campaign_state
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.actions.requests import PauseRequest, ResumeRequest


def pause(lp: LaunchPad, request: PauseRequest, _profile: Any = None) -> ActionOutcome:
    """Hold ``request.campaign`` back; returns how many Fireworks now wait for a resume."""
    campaign = request.campaign
    if reason := unknown_campaign(lp, campaign):
        raise InputError(reason)
    set_campaign_state(lp, campaign, request.who, paused=True)
    put_back = put_back_unsubmitted(lp, fw_ids_of(lp, campaign), f"campaign {campaign} paused")
    held = fw_ids_of(lp, campaign, NOT_STARTED)
    message = f"campaign {campaign} paused: {len(held)} Fireworks wait"
    if put_back:
        message += f" ({len(put_back)} claimed launches put back)"
    return outcome_of(request, "applied", message, held)


def resume(lp: LaunchPad, request: ResumeRequest, _profile: Any = None) -> ActionOutcome:
    """Undo ``pause`` (and ``cancel``: the Fireworks it defused are reignited)."""
    campaign = request.campaign
    state = campaigns(lp).find_one({"campaign": campaign}) or {}
    if not state.get("paused") and not state.get("cancelled"):
        if reason := unknown_campaign(lp, campaign):
            raise InputError(reason)
        raise InputError(f"campaign {campaign!r} is neither paused nor cancelled")
    reignited = []
    for fw_id in state.get("cancelled_fw_ids") or []:
        if lp.reignite_fw(fw_id):
            reignited.append(fw_id)
    set_campaign_state(
        lp, campaign, request.who, paused=False, cancelled=False, cancelled_fw_ids=[]
    )
    released = fw_ids_of(lp, campaign, ("WAITING", "READY"))
    message = f"campaign {campaign} resumed: {len(released)} Fireworks may run"
    if reignited:
        message += f" ({len(reignited)} defused by cancel reignited)"
    return outcome_of(request, "applied", message, released)
