"""The funnel's last step, in the agent's pass: submit the DFT stage of a screened campaign.

When a funnel's screen job (``spec.htflow_funnel``) is COMPLETED and ingested, the agent:

1. reads the screen's output (``htflow.ml.screen.MLScreenDoc``) from its JobStore;
2. records every decision in the ``screening`` collection (kept or screened out, with the ML
   numbers and the reason);
3. for each kept candidate not yet done, builds the campaign's workflows on the ML-relaxed
   structure (``htflow.campaign.build.build_flows``, exactly as planning does) and submits
   them with ``submit_flow``: the usual duplicate checks and the reuse of relaxations apply,
   and the cluster profile's resources are the campaign's;
4. marks the candidate's screening document ``dft_submitted`` and, when all are done, the
   screen Firework ``spec.htflow_funnel_expanded``.

A cancelled campaign gets its decisions recorded and no DFT stage; a paused one gets its
DFT Fireworks, which the claim step then holds like the rest of the campaign.

A kill -9 anywhere leaves a state the next pass completes: decisions are upserts, candidates
already marked are skipped, and a flow submitted just before the kill is found again by the
duplicate check (with ``dedupe.against_database``, the default) instead of being added twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from htflow.actions.store import campaigns
from htflow.campaign.build import build_flows
from htflow.campaign.candidate import Candidate
from htflow.launch.spec import FUNNEL_EXPANDED_KEY, FUNNEL_KEY, JOB_UUID_KEY
from htflow.submit.planned import PlannedSubmitter

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.campaign.spec import CampaignSpec
    from htflow.ml.screen import MLScreenDoc

logger = logging.getLogger(__name__)


@dataclass
class FunnelExpansion:
    """What one expansion did."""

    fw_id: int
    campaign: str
    kept: int
    screened_out: int
    flows_submitted: int
    flows_duplicate: int


def pending_screens(lp: LaunchPad) -> list[dict[str, Any]]:
    """Completed screen Fireworks whose DFT stage has not been submitted yet."""
    query = {
        "state": "COMPLETED",
        f"spec.{FUNNEL_KEY}": True,
        f"spec.{FUNNEL_EXPANDED_KEY}": {"$exists": False},
    }
    return list(lp.fireworks.find(query, {"fw_id": 1, f"spec.{JOB_UUID_KEY}": 1}))


def expand_funnels(lp: LaunchPad, jobstore: JobStore) -> list[FunnelExpansion]:
    """Submit the DFT stage of every completed, not yet expanded screen (see module doc)."""
    done = []
    for fw in pending_screens(lp):
        uuid = fw["spec"][JOB_UUID_KEY]
        screen = read_screen(jobstore, uuid)
        if screen is None:
            logger.warning("screen job %s (fw_id %s) has no output yet", uuid, fw["fw_id"])
            continue
        done.append(expand_one(lp, fw["fw_id"], uuid, screen))
    return done


def read_screen(jobstore: JobStore, uuid: str) -> MLScreenDoc | None:
    """The screen job's output (last index), or None when it is not in the JobStore."""
    from htflow.ml.screen import MLScreenDoc

    output = job_output(jobstore, uuid)
    return None if output is None else MLScreenDoc.model_validate(output)


def job_output(jobstore: JobStore, uuid: str) -> Any:
    """The output of a job's last index as stored, or None when it has none yet."""
    docs = list(jobstore.docs_store.query({"uuid": uuid}, sort={"index": -1}, limit=1))
    return docs[0].get("output") if docs else None


def expand_one(lp: LaunchPad, fw_id: int, uuid: str, screen: MLScreenDoc) -> FunnelExpansion:
    """Record the decisions of one screen and submit the DFT flows of its kept candidates."""
    from htflow.db.screening import record_screening, screening_docs

    plan = screen.plan or {}
    spec = _spec(plan)
    now = datetime.now(UTC).isoformat()
    recorded = {d["label"]: d for d in screening_docs(lp.db, spec.name)}
    docs = [
        _screening_doc(d, screen, uuid, now=now, recorded=recorded.get(d.label))
        for d in screen.decisions
    ]
    record_screening(lp.db, docs)
    submitted = duplicates = 0
    cancelled = campaigns(lp).find_one({"campaign": spec.name, "cancelled": True}) is not None
    if not cancelled and (spec.funnel is None or spec.funnel.runs_dft):
        submitted, duplicates = _submit_dft_stage(lp, spec, screen, docs)
    kept = sum(d.kept for d in docs)
    mark = {"at": now, "kept": kept, "screened_out": len(docs) - kept, "flows": submitted}
    mark["cancelled"] = cancelled  # a cancelled campaign gets no DFT stage
    lp.fireworks.update_one({"fw_id": fw_id}, {"$set": {f"spec.{FUNNEL_EXPANDED_KEY}": mark}})
    logger.info(
        "funnel of campaign %s: %d kept, %d screened out, %d DFT flows submitted",
        spec.name,
        kept,
        len(docs) - kept,
        submitted,
    )
    return FunnelExpansion(fw_id, spec.name, kept, len(docs) - kept, submitted, duplicates)


def _spec(plan: dict[str, Any]) -> CampaignSpec:
    from htflow.campaign.spec import parse_campaign

    return parse_campaign(plan["spec"], source=plan.get("path", "funnel plan"))


def _screening_doc(
    decision: Any, screen: MLScreenDoc, uuid: str, *, now: str, recorded: dict[str, Any] | None
) -> Any:
    from htflow.db.screening import ScreeningDoc

    plan = screen.plan or {}
    structure = decision.structure
    return ScreeningDoc(
        campaign=plan["campaign"],
        label=decision.label,
        entry=plan.get("entries", {}).get(decision.label, decision.label),
        formula=decision.formula,
        structure=structure.as_dict() if hasattr(structure, "as_dict") else structure,
        model=screen.model,
        model_version=screen.model_version,
        energy_per_atom=decision.energy_per_atom,
        formation_energy_per_atom=decision.formation_energy_per_atom,
        energy_above_hull=decision.e_above_hull,
        margin=screen.margin,
        kept=decision.kept,
        reason=decision.reason,
        screen_job_uuid=uuid,
        dft_fw_ids=(recorded or {}).get("dft_fw_ids", []),
        dft_submitted=bool((recorded or {}).get("dft_submitted", False)),
        screened_at=(recorded or {}).get("screened_at", now),
    )


def _submit_dft_stage(
    lp: LaunchPad, spec: CampaignSpec, screen: MLScreenDoc, docs: list[Any]
) -> tuple[int, int]:
    """Submit the workflows of the kept candidates not yet done, and the elemental references
    the kept ones need; mark each candidate's screening document as it goes."""
    from htflow.campaign.references import reference_flows
    from htflow.db.screening import record_screening

    plan = screen.plan or {}
    kept = [_candidate(d, plan) for d in screen.decisions if d.kept]
    submitter = PlannedSubmitter(lp, spec, Path(plan.get("path", ".")))
    counts = [0, 0]

    def submit(flows: list[Any]) -> list[int]:
        done = submitter(flows)
        counts[0] += done.added
        counts[1] += done.found
        return done.fw_ids

    # references first: a kill after them is repaired by the duplicate check on the next pass
    submit(reference_flows(kept, spec)[0])
    by_label = {d.label: d for d in docs}
    for decision in screen.decisions:
        doc = by_label[decision.label]
        if not doc.kept or doc.dft_submitted:
            continue
        fw_ids = submit(build_flows([_candidate(decision, plan)], spec))
        record_screening(
            lp.db, [doc.model_copy(update={"dft_fw_ids": fw_ids, "dft_submitted": True})]
        )
    return counts[0], counts[1]


def _candidate(decision: Any, plan: dict[str, Any]) -> Candidate:
    """The DFT stage's candidate: the ML-relaxed structure, named by its spec entry."""
    structure = decision.structure
    if isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    entry = plan.get("entries", {}).get(decision.label, decision.label)
    source = plan.get("sources", {}).get(decision.label, "funnel")
    return Candidate(structure, f"{entry} (ML-relaxed)", source)


__all__ = [
    "FunnelExpansion",
    "expand_funnels",
    "expand_one",
    "job_output",
    "pending_screens",
    "read_screen",
]
