"""``cancel``: stop a campaign. What has not started is defused; what runs alone is stopped.

In order (each step can be repeated: cancelling again finishes a cancel an agent crash
interrupted):

1. the campaign is recorded cancelled: the claim step skips it from now on;
2. its open launches are marked ``cancelled``: the requeue step fizzles them with that
   reason instead of requeuing them;
3. launches claimed but not handed to an allocation are put back, and every Firework that
   has not started (WAITING, READY, PAUSED) is defused (``lp.defuse_fw``; recorded, so
   ``resume`` can reignite exactly these);
4. launches in an allocation's queue that no stream runs are withdrawn (fizzled in their
   directory: the worker skips them, the agent ingests them FIZZLED);
5. allocations whose open launches all belong to the campaign are ``scancel``-ed: their
   running launches are killed and end FIZZLED ("campaign … cancelled by …"). Allocations
   shared with other campaigns are left alone: the campaign's launches running there run
   to their end and are ingested as usual (COMPLETED or FIZZLED).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from htflow.actions.campaigns import NOT_STARTED, fw_ids_of, unknown_campaign
from htflow.actions.launches import (
    mark_cancelled,
    open_allocations_of,
    put_back_unsubmitted,
    withdraw_queued,
)
from htflow.actions.outcome import outcome_of
from htflow.actions.store import campaigns, set_campaign_state
from htflow.cluster import slurm
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.actions.requests import CancelRequest
    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger("htflow.agent")


def cancel(
    lp: LaunchPad, request: CancelRequest, profile: ClusterProfile | None = None
) -> ActionOutcome:
    """Cancel ``request.campaign`` (see the module docstring)."""
    campaign = request.campaign
    if reason := unknown_campaign(lp, campaign):
        raise InputError(reason)
    reason = f"campaign {campaign} cancelled by {request.who}"
    set_campaign_state(lp, campaign, request.who, cancelled=True)
    all_ids = fw_ids_of(lp, campaign)
    mark_cancelled(lp, all_ids, reason)
    put_back_unsubmitted(lp, all_ids, reason)
    defused = [i for i in fw_ids_of(lp, campaign, NOT_STARTED) if lp.defuse_fw(i, False)]
    earlier = (campaigns(lp).find_one({"campaign": campaign}) or {}).get("cancelled_fw_ids")
    set_campaign_state(
        lp, campaign, request.who, cancelled_fw_ids=sorted({*(earlier or []), *defused})
    )
    withdrawn = withdraw_queued(lp, all_ids, reason)
    only, shared = open_allocations_of(lp, all_ids)
    stopped, failed = [], []
    for alloc in only:
        if not alloc.get("job_id"):
            continue  # being submitted: start-up recovery or the next cancel finds it
        try:
            slurm.scancel(alloc["job_id"], profile=profile)
            stopped.append(str(alloc["job_id"]))
        except slurm.SlurmUnavailableError as exc:
            failed.append(f"{alloc['job_id']} ({exc})")
    parts = [f"{len(defused)} Fireworks defused", f"{len(withdrawn)} queued launches withdrawn"]
    parts.append(
        f"{len(stopped)} allocations cancelled" + (f" ({', '.join(stopped)})" if stopped else "")
    )
    if shared:
        parts.append(f"{shared} shared allocations left to finish its running launches")
    if failed:
        parts.append(f"scancel failed for {'; '.join(failed)[:200]}: cancel again")
    message = f"campaign {campaign} cancelled: " + ", ".join(parts)
    return outcome_of(request, "applied", message, [*defused, *withdrawn])
