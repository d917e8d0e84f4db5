"""The records of active campaigns: the loop's state, its pool and every round.

Three collections next to the LaunchPad, written only by the agent (``htflow.agent.active``)
and read by ``htflow status``, the loop plot and the dashboard:

``active_campaigns``
    One :class:`ActiveCampaignDoc` per campaign: the spec, the pool job, ``state``
    (``running`` or ``stopped``) and, once stopped, the reason.
``active_pool``
    One :class:`PoolEntryDoc` per (campaign, candidate): label, spec entry, structure and
    features, as the pool job computed them. Never changes after it is written.
``active_rounds``
    One :class:`RoundDoc` per (campaign, round), written with what was chosen and why
    **before** anything is submitted (``chosen``), then ``submitted`` once every chosen
    candidate's flows are in the LaunchPad, then ``done`` with the observations.

Values of the objective and the constraints are in their materials field's units
(``htflow.active.objective_fields.FIELD_UNITS``: eV for band gaps, GPa for moduli …).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ACTIVE_CAMPAIGNS_COLLECTION = "active_campaigns"
ACTIVE_POOL_COLLECTION = "active_pool"
ACTIVE_ROUNDS_COLLECTION = "active_rounds"

RoundState = Literal["chosen", "submitted", "done"]
LoopState = Literal["running", "stopped"]


class ActiveCampaignDoc(BaseModel):
    """The loop of one active campaign."""

    campaign: str = Field(description="The campaign name.")
    path: str = Field(description="The campaign file planning read (for messages).")
    spec: dict[str, Any] = Field(description="The campaign spec (JSON) the loop follows.")
    pool_job_uuid: str = Field(description="uuid of the pool job whose output is the pool.")
    pool_fw_id: int = Field(description="fw_id of the pool job's Firework.")
    pool_size: int = Field(description="Candidates in the pool (count).")
    feature_names: list[str] = Field(description="Names of the pool's feature columns.")
    objective: str = Field(description="What is optimised, e.g. 'band_gap closest to 1.4 eV'.")
    unit: str = Field(description="Unit of the objective's field ('' when dimensionless).")
    state: LoopState = Field(description="'running', or 'stopped' for good (with a reason).")
    stop_reason: str | None = Field(
        None,
        description="Why the loop stopped, one line with the numbers ('budget spent: 4 of 4 "
        "calculations', 'target reached: …', 'no improvement in 3 rounds', 'pool "
        "exhausted: …', 'campaign cancelled …'); None while running.",
    )
    started_at: str = Field(description="When the agent recorded the pool (ISO 8601, UTC).")
    stopped_at: str | None = Field(None, description="When the loop stopped (ISO 8601, UTC).")
    last_error: str | None = Field(
        None, description="The last error a pass met on this loop (it retries next pass)."
    )


class PoolEntryDoc(BaseModel):
    """One candidate of an active campaign's pool."""

    campaign: str = Field(description="The campaign name.")
    index: int = Field(description="Position in the pool (0-based): the learner's row.")
    label: str = Field(description="Candidate label within the campaign (c0000 …).")
    entry: str = Field(description="The campaign spec entry the candidate came from.")
    source: str = Field(description="files, prototypes, materials_project or optimade.")
    formula: str = Field(description="Reduced formula.")
    structure: dict[str, Any] = Field(description="The candidate structure (pymatgen dict, Å).")
    features: list[float] = Field(
        description="Its feature row (units: see htflow.campaign.active.ActivePoolDoc)."
    )


class ChosenCandidate(BaseModel):
    """A candidate a round sends to DFT, why, and what submission made of it."""

    index: int = Field(description="Pool index.")
    label: str = Field(description="Candidate label (c0000 …).")
    formula: str = Field(description="Reduced formula.")
    reason: str = Field(description="Why it was chosen, with the numbers (field units).")
    mean: float | None = Field(
        None, description="Predicted objective (field units); None in round 0 (no model)."
    )
    std: float | None = Field(None, description="Predicted uncertainty, 1σ (field units).")
    score: float | None = Field(
        None, description="Acquisition value (EI: field units; UCB/greedy: utility units)."
    )
    submitted: bool = Field(
        False, description="True once its flows are in the LaunchPad (added or found)."
    )
    fw_ids: list[int] = Field(
        default_factory=list, description="fw_ids of its DFT Fireworks (added or matched)."
    )
    flows_added: int = Field(0, description="Flows added for it (count).")
    flows_found: int = Field(
        0, description="Flows the duplicate check found already in the LaunchPad (count)."
    )


class TrainingPoint(BaseModel):
    """One finished candidate the surrogate was trained on."""

    index: int = Field(description="Pool index.")
    label: str = Field(description="Candidate label.")
    value: float = Field(description="The observed objective (field units).")
    feasible: bool = Field(description="Whether it met every constraint.")


class Prediction(BaseModel):
    """The surrogate's prediction for one unobserved candidate of the pool."""

    index: int = Field(description="Pool index.")
    label: str = Field(description="Candidate label.")
    mean: float = Field(description="Predicted objective (field units).")
    std: float = Field(description="Predicted uncertainty, 1σ (field units).")
    score: float | None = Field(
        description="Acquisition value (see ChosenCandidate.score); None for a pending "
        "candidate (it could not be chosen)."
    )
    pending: bool = Field(False, description="Sent to DFT earlier, result not in yet.")


class Observation(BaseModel):
    """What DFT gave for one chosen candidate."""

    index: int = Field(description="Pool index.")
    label: str = Field(description="Candidate label.")
    outcome: Literal["completed", "failed"] = Field(
        description="'completed' with a value, or 'failed' (counted, never trained on)."
    )
    value: float | None = Field(None, description="The objective (field units); None: failed.")
    feasible: bool = Field(False, description="Whether it met every constraint.")
    fields: dict[str, float | None] = Field(
        default_factory=dict,
        description="Every field the strategy reads (objective, constraints), field units.",
    )
    material_id: str | None = Field(None, description="The material it was read from.")
    reason: str | None = Field(None, description="Why it failed (one line), or how it matched.")
    fw_ids: list[int] = Field(default_factory=list, description="Its DFT Fireworks.")


class RoundDoc(BaseModel):
    """One round of an active campaign, with its provenance."""

    campaign: str = Field(description="The campaign name.")
    round: int = Field(description="Round number (0: the initial batch).")
    state: RoundState = Field(description="'chosen', 'submitted' or 'done'.")
    chosen: list[ChosenCandidate] = Field(description="What the round sends to DFT, and why.")
    surrogate: dict[str, Any] = Field(
        default_factory=dict,
        description="The model: backend and fitted hyperparameters (length scales in "
        "standardized feature units, variances in field units²); empty in round 0.",
    )
    acquisition: dict[str, Any] = Field(
        default_factory=dict, description="The acquisition settings the round used."
    )
    seed: int = Field(description="Seed of the round's random choices.")
    training: list[TrainingPoint] = Field(
        default_factory=list, description="Every finished candidate the model learnt from."
    )
    predictions: list[Prediction] = Field(
        default_factory=list, description="The model's view of every unobserved candidate."
    )
    reference_fw_ids: list[int] = Field(
        default_factory=list,
        description="Fireworks of the elemental references the round's candidates need "
        "(added or matched); the round waits for them (formation energies need them).",
    )
    observations: list[Observation] = Field(
        default_factory=list, description="What DFT gave for each chosen candidate (done)."
    )
    calculations_used: int | None = Field(
        None, description="Candidates sent to DFT by the end of this round (count)."
    )
    core_hours_used: float | None = Field(
        None, description="Core-hours of the campaign's pw.x runs by the end of this round."
    )
    best_value: float | None = Field(
        None, description="Best feasible objective found so far (field units)."
    )
    best_label: str | None = Field(None, description="The candidate that holds best_value.")
    stop_reason: str | None = Field(
        None, description="The reason the loop stopped after this round; None: it went on."
    )
    chosen_at: str = Field(description="When the choice was recorded (ISO 8601, UTC).")
    submitted_at: str | None = Field(None, description="When every flow was in (ISO 8601).")
    done_at: str | None = Field(None, description="When observations were recorded (ISO 8601).")


def active_campaigns(db: Any) -> Any:
    """The ``active_campaigns`` collection of a pymongo-API database."""
    return db[ACTIVE_CAMPAIGNS_COLLECTION]


def active_pool(db: Any) -> Any:
    """The ``active_pool`` collection."""
    return db[ACTIVE_POOL_COLLECTION]


def active_rounds(db: Any) -> Any:
    """The ``active_rounds`` collection."""
    return db[ACTIVE_ROUNDS_COLLECTION]


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def loop_record(db: Any, campaign: str) -> dict[str, Any] | None:
    """The campaign's :class:`ActiveCampaignDoc` (as stored), or None."""
    doc = active_campaigns(db).find_one({"campaign": campaign})
    return None if doc is None else _plain(doc)


def loop_records(db: Any, state: LoopState | None = None) -> list[dict[str, Any]]:
    """Every loop (or those in ``state``), by campaign."""
    query = {} if state is None else {"state": state}
    return sorted(
        (_plain(d) for d in active_campaigns(db).find(query)), key=lambda d: d["campaign"]
    )


def pool_entries(db: Any, campaign: str) -> list[dict[str, Any]]:
    """The campaign's pool, by index."""
    docs = (_plain(d) for d in active_pool(db).find({"campaign": campaign}))
    return sorted(docs, key=lambda d: d["index"])


def round_docs(db: Any, campaign: str) -> list[dict[str, Any]]:
    """The campaign's rounds, in order."""
    docs = (_plain(d) for d in active_rounds(db).find({"campaign": campaign}))
    return sorted(docs, key=lambda d: d["round"])


def record_loop(db: Any, doc: ActiveCampaignDoc, pool: list[PoolEntryDoc]) -> bool:
    """Write the pool, then the loop record unless it exists; True when this call created it.

    The pool goes first and is upserted, so a kill between the two leaves a pool that the
    next call writes again; a loop record, once written, is never replaced here.
    """
    for entry in pool:
        key = {"campaign": entry.campaign, "index": entry.index}
        active_pool(db).replace_one(key, entry.model_dump(mode="json"), upsert=True)
    result = active_campaigns(db).update_one(
        {"campaign": doc.campaign},
        {"$setOnInsert": doc.model_dump(mode="json")},
        upsert=True,
    )
    return result.upserted_id is not None


def update_loop(db: Any, campaign: str, **fields: Any) -> None:
    """Set ``fields`` of the campaign's loop record."""
    active_campaigns(db).update_one({"campaign": campaign}, {"$set": fields})


def insert_round(db: Any, doc: RoundDoc) -> bool:
    """Write a new round; False (and nothing written) when that round already exists."""
    result = active_rounds(db).update_one(
        {"campaign": doc.campaign, "round": doc.round},
        {"$setOnInsert": doc.model_dump(mode="json")},
        upsert=True,
    )
    return result.upserted_id is not None


def save_round(db: Any, doc: RoundDoc) -> None:
    """Replace the stored round with ``doc`` (same campaign and round)."""
    key = {"campaign": doc.campaign, "round": doc.round}
    active_rounds(db).replace_one(key, doc.model_dump(mode="json"), upsert=True)


__all__ = [
    "ACTIVE_CAMPAIGNS_COLLECTION",
    "ACTIVE_POOL_COLLECTION",
    "ACTIVE_ROUNDS_COLLECTION",
    "ActiveCampaignDoc",
    "ChosenCandidate",
    "LoopState",
    "Observation",
    "PoolEntryDoc",
    "Prediction",
    "RoundDoc",
    "RoundState",
    "TrainingPoint",
    "active_campaigns",
    "active_pool",
    "active_rounds",
    "insert_round",
    "loop_record",
    "loop_records",
    "pool_entries",
    "record_loop",
    "round_docs",
    "save_round",
    "update_loop",
]
