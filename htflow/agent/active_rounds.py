"""One round of an active campaign: choose the batch, record it, then submit it.

:func:`choose_round` asks the learner (:func:`htflow.active.learner.propose`) for the next
batch from every finished candidate and records the round, with the training set, the
surrogate's hyperparameters, its predictions and what was chosen and why, **before**
anything is submitted (state ``chosen``). :func:`submit_round` then submits each chosen
candidate's workflows exactly as the funnel's DFT stage does (``build_flows`` and the
elemental references it needs, through ``submit_flow``: duplicate checks and the reuse of
relaxations apply), marks each candidate as it goes and finally the round ``submitted``.

Kill -9: a round exists once, written with an insert that never replaces one (a second
proposal of the same round is dropped); :func:`submit_round` skips the candidates already
marked, and finds a flow submitted just before the kill with the duplicate check instead of
adding it again. Rows already chosen in any round are never offered to the learner again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Structure

from htflow.actions.store import now_iso
from htflow.campaign.build import build_flows
from htflow.campaign.candidate import Candidate
from htflow.campaign.references import reference_flows
from htflow.db.active import (
    ChosenCandidate,
    Prediction,
    RoundDoc,
    TrainingPoint,
    active_rounds,
    insert_round,
    save_round,
)
from htflow.submit.planned import PlannedSubmitter

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from htflow.active.learner import Proposal
    from htflow.campaign.spec import CampaignSpec

logger = logging.getLogger(__name__)


@dataclass
class Known:
    """What the finished rounds say, as the learner takes it (rows are pool indices)."""

    observed: dict[int, float]
    feasible: dict[int, bool]
    failed: set[int]
    chosen: set[int]

    @property
    def pending(self) -> set[int]:
        """Chosen rows still in flight (neither a value nor a failure yet)."""
        return self.chosen - set(self.observed) - self.failed


def known_from(rounds: list[dict[str, Any]]) -> Known:
    """Observations and choices of every recorded round."""
    observed: dict[int, float] = {}
    feasible: dict[int, bool] = {}
    failed: set[int] = set()
    chosen: set[int] = set()
    for doc in rounds:
        chosen |= {c["index"] for c in doc.get("chosen", [])}
        for obs in doc.get("observations", []):
            if obs["outcome"] == "completed" and obs.get("value") is not None:
                observed[obs["index"]] = float(obs["value"])
                feasible[obs["index"]] = bool(obs.get("feasible"))
            else:
                failed.add(obs["index"])
    return Known(observed, feasible, failed, chosen)


def choose_round(
    db: Any,
    spec: CampaignSpec,
    pool: list[dict[str, Any]],
    rounds: list[dict[str, Any]],
) -> RoundDoc | None:
    """Propose round ``len(rounds)`` and record it (state ``chosen``); None when the batch
    is empty. A round that exists already is never replaced: it is returned as stored.
    """
    from htflow.active.learner import propose

    active = spec.active
    assert active is not None
    number = len(rounds)
    known = known_from(rounds)
    x_pool = np.array([entry["features"] for entry in pool], dtype=float)
    # failed rows: counted against the budget, never chosen again, never trained on
    proposal = propose(
        active,
        x_pool,
        known.observed,
        known.feasible,
        known.pending,
        round_index=number,
        seed=active.initial.seed,
        failed=known.failed,
    )
    picks = [c for c in proposal.chosen if c.index not in known.chosen]
    if len(picks) != len(proposal.chosen):  # the learner's contract; never submit twice
        logger.error("round %d of %s: the learner re-chose a candidate", number, spec.name)
    if not picks:
        return None
    doc = _round_doc(spec, pool, number, proposal, picks)
    if not insert_round(db, doc):
        logger.warning("round %d of %s exists already: not proposed again", number, spec.name)
        stored = active_rounds(db).find_one({"campaign": spec.name, "round": number})
        return RoundDoc.model_validate({k: v for k, v in stored.items() if k != "_id"})
    return doc


def _round_doc(
    spec: CampaignSpec,
    pool: list[dict[str, Any]],
    number: int,
    proposal: Proposal,
    picks: list[Any],
) -> RoundDoc:
    assert spec.active is not None
    label = {entry["index"]: entry["label"] for entry in pool}
    formula = {entry["index"]: entry["formula"] for entry in pool}
    training = [
        TrainingPoint(index=i, label=label[i], value=v, feasible=f)
        for i, v, f in zip(
            proposal.training_indices,
            proposal.training_values,
            proposal.training_feasible,
            strict=True,
        )
    ]
    predictions = [
        Prediction(
            index=p.index,
            label=label[p.index],
            mean=p.mean,
            std=p.std,
            score=p.score,
            pending=p.pending,
        )
        for p in proposal.predictions
    ]
    chosen = [
        ChosenCandidate(
            index=c.index,
            label=label[c.index],
            formula=formula[c.index],
            reason=c.reason,
            mean=c.mean,
            std=c.std,
            score=c.score,
        )
        for c in picks
    ]
    surrogate: dict[str, Any] = {"backend": spec.active.surrogate.backend, "kind": proposal.kind}
    if proposal.hyperparameters:
        surrogate["hyperparameters"] = proposal.hyperparameters
    return RoundDoc(
        campaign=spec.name,
        round=number,
        state="chosen",
        chosen=chosen,
        surrogate=surrogate,
        acquisition=spec.active.acquisition.model_dump(mode="json"),
        seed=proposal.seed,
        training=training,
        predictions=predictions,
        chosen_at=now_iso(),
    )


def submit_round(
    lp: LaunchPad, spec: CampaignSpec, path: str, pool: list[dict[str, Any]], doc: RoundDoc
) -> RoundDoc:
    """Submit the workflows of every chosen candidate not yet marked; the round ends
    ``submitted`` (see the module docstring). Returns the saved round."""
    entries = {entry["index"]: entry for entry in pool}
    submit = PlannedSubmitter(lp, spec, Path(path))
    todo = [c for c in doc.chosen if not c.submitted]

    # references first: a kill after them is repaired by the duplicate check on the next pass
    candidates = [_candidate(entries[c.index]) for c in todo]
    if candidates:
        references = submit(reference_flows(candidates, spec)[0]).fw_ids
        doc.reference_fw_ids = sorted({*doc.reference_fw_ids, *references})
        save_round(lp.db, doc)
    for chosen in todo:
        done = submit(build_flows([_candidate(entries[chosen.index])], spec))
        chosen.fw_ids, chosen.flows_added, chosen.flows_found = done.fw_ids, done.added, done.found
        chosen.submitted = True
        save_round(lp.db, doc)
    doc.state = "submitted"
    doc.submitted_at = now_iso()
    save_round(lp.db, doc)
    logger.info(
        "active campaign %s: round %d submitted (%s)",
        spec.name,
        doc.round,
        ", ".join(f"{c.label} {c.formula}" for c in doc.chosen),
    )
    return doc


def _candidate(entry: dict[str, Any]) -> Candidate:
    return Candidate(Structure.from_dict(entry["structure"]), entry["entry"], entry["source"])


__all__ = ["Known", "choose_round", "known_from", "submit_round"]
