"""``submit_flow``: a flow left in the inbox, checked against the trusted modules, submitted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monty.json import MontyDecoder

from htflow.actions.outcome import outcome_of
from htflow.actions.trust import check_flow_modules
from htflow.exceptions import InputError
from htflow.launch.spec import CAMPAIGN_KEY

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.actions.outcome import ActionOutcome
    from htflow.actions.requests import SubmitFlowRequest


def submit(lp: LaunchPad, request: SubmitFlowRequest, _profile: Any = None) -> ActionOutcome:
    """Decode ``request.flow`` (only after every module it names is trusted) and submit it."""
    from jobflow import Flow, Job

    from htflow.submit import submit_flow

    check_flow_modules(request.flow)  # before MontyDecoder imports anything
    flow = MontyDecoder().process_decoded(request.flow)
    if not isinstance(flow, Flow | Job):
        raise InputError(f"the flow decodes to {type(flow).__name__}, not a jobflow Flow or Job")
    result = submit_flow(
        flow, lp, protocol=request.protocol, resources=request.resources, dedupe=request.dedupe
    )
    fw_ids = sorted(result.fw_ids.values())
    campaign = None
    if fw_ids:
        doc = lp.fireworks.find_one({"fw_id": fw_ids[0]}, {f"spec.{CAMPAIGN_KEY}": 1})
        campaign = ((doc or {}).get("spec") or {}).get(CAMPAIGN_KEY)
    if result.submitted:
        message = f"{len(fw_ids)} Fireworks added ({len(result.duplicates)} duplicates)"
        if result.reused:
            served = ", ".join(f"fw {r.original_fw_id}" for r in result.reused)
            message += f"; {len(result.reused)} relaxations reused ({served})"
    else:
        message = f"nothing added: {len(result.duplicates)} of {result.n_jobs} jobs are duplicates"
    outcome = outcome_of(
        request,
        "applied",
        message,
        fw_ids,
        duplicates=len(result.duplicates),
        n_jobs=result.n_jobs,
        reused=[reuse.as_spec() for reuse in result.reused],
    )
    return outcome.model_copy(update={"campaign": campaign})
