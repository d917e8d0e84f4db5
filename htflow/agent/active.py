"""The active loop, in the agent's pass: pool → round 0 → results → next round … → stop.

After ingestion (next to the funnel step), :func:`advance_active_campaigns`:

1. records the pool of every completed, not yet recorded pool job (``spec.htflow_active_pool``):
   one ``active_pool`` document per candidate and the campaign's ``active_campaigns``
   record (state ``running``), then marks the Firework ``spec.htflow_active_pool_recorded``;
2. moves every running loop one step on (:func:`advance_loop`):

   - no round yet, or the last round ``done`` and no stop rule met: the learner proposes the
     next round, which is recorded (``chosen``) and then submitted
     (:mod:`htflow.agent.active_rounds`);
   - the last round ``chosen`` (a kill came between the two): its unmarked candidates are
     submitted;
   - the last round ``submitted`` and every Firework of its candidates finished
     (:mod:`htflow.agent.active_results`): materials are built, each candidate's objective
     and constraint fields are read through ``htflow.db.query``, and the round is saved
     ``done`` with its observations, the calculations and core-hours spent, the best
     feasible value so far and the stop rule's verdict
     (:func:`htflow.active.stopping.stop_reason`); a verdict stops the loop.

A cancelled campaign's loop stops (reason recorded); a paused one waits. Every step is
idempotent, so the first pass after a kill -9 finishes what the killed one began.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from htflow.actions.store import campaigns, now_iso
from htflow.agent.active_results import (
    CandidateRun,
    campaign_core_hours,
    candidate_fireworks,
    candidate_outcome,
    failure_reason,
    read_material_values,
)
from htflow.agent.active_rounds import choose_round, known_from, submit_round
from htflow.db.active import (
    ActiveCampaignDoc,
    Observation,
    PoolEntryDoc,
    RoundDoc,
    loop_record,
    loop_records,
    pool_entries,
    record_loop,
    round_docs,
    save_round,
    update_loop,
)
from htflow.launch.spec import ACTIVE_POOL_KEY, ACTIVE_POOL_RECORDED_KEY, JOB_UUID_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from fireworks import LaunchPad
    from jobflow import JobStore

    from htflow.campaign.active import ActivePoolDoc
    from htflow.campaign.spec import CampaignSpec

logger = logging.getLogger(__name__)


@dataclass
class LoopStep:
    """What one pass did to one loop: ``started``, ``submitted``, ``observed``,
    ``stopped``, ``waiting`` or ``paused``."""

    campaign: str
    action: str
    round: int | None = None
    detail: str = ""

    @property
    def changed(self) -> bool:
        """Whether the pass wrote anything for this loop."""
        return self.action not in ("waiting", "paused")


def advance_active_campaigns(
    lp: LaunchPad,
    jobstore: JobStore,
    uri: str | None,
    *,
    check_pools: bool = True,
    build: Callable[[str | None], object] | None = None,
) -> list[LoopStep]:
    """Start the loops of completed pool jobs (``check_pools``), then step every running
    loop once (see the module docstring). ``build`` builds materials (default
    :func:`htflow.builders.build_materials`); the agent is the one writer."""
    steps = start_loops(lp, jobstore) if check_pools else []
    for record in loop_records(lp.db, "running"):
        try:
            step = advance_loop(lp, jobstore, record, uri, build)
        except Exception as exc:  # one loop's fault must not stop the agent or other loops
            logger.exception("active campaign %s: the loop step failed", record["campaign"])
            update_loop(lp.db, record["campaign"], last_error=f"{type(exc).__name__}: {exc}")
            continue
        if step.changed:
            logger.info(
                "active campaign %s: %s round %s %s",
                step.campaign,
                step.action,
                step.round,
                step.detail,
            )
        steps.append(step)
    return steps


# ----------------------------------------------------------------------- the pool
def pending_pools(lp: LaunchPad) -> list[dict[str, Any]]:
    """Completed pool Fireworks whose pool has not been recorded yet."""
    query = {
        "state": "COMPLETED",
        f"spec.{ACTIVE_POOL_KEY}": True,
        f"spec.{ACTIVE_POOL_RECORDED_KEY}": {"$exists": False},
    }
    return list(lp.fireworks.find(query, {"fw_id": 1, f"spec.{JOB_UUID_KEY}": 1}))


def read_pool(jobstore: JobStore, uuid: str) -> ActivePoolDoc | None:
    """The pool job's output, or None when it is not in the JobStore."""
    from htflow.agent.funnel import job_output
    from htflow.campaign.active import ActivePoolDoc

    output = job_output(jobstore, uuid)
    return None if output is None else ActivePoolDoc.model_validate(output)


def start_loops(lp: LaunchPad, jobstore: JobStore) -> list[LoopStep]:
    """Record the pool of every completed pool job, and its loop (state ``running``)."""
    steps = []
    for fw in pending_pools(lp):
        uuid = fw["spec"][JOB_UUID_KEY]
        pool = read_pool(jobstore, uuid)
        if pool is None:
            logger.warning("active pool job %s (fw_id %s) has no output yet", uuid, fw["fw_id"])
            continue
        steps.append(start_loop(lp, fw["fw_id"], uuid, pool))
    return steps


def start_loop(lp: LaunchPad, fw_id: int, uuid: str, pool: ActivePoolDoc) -> LoopStep:
    """Record ``pool`` and the campaign's loop, then mark the pool Firework."""
    from htflow.campaign.spec import parse_campaign

    spec = parse_campaign(pool.spec, source=pool.path)
    assert spec.active is not None
    existing = loop_record(lp.db, spec.name)
    mark: dict[str, Any] = {"at": now_iso(), "pool_size": len(pool.candidates)}
    if existing is not None and existing["pool_job_uuid"] != uuid:
        mark["ignored"] = (
            f"campaign {spec.name} already has a loop (pool job {existing['pool_job_uuid']})"
        )
        logger.warning("active pool fw %s ignored: %s", fw_id, mark["ignored"])
    else:
        record = ActiveCampaignDoc(
            campaign=spec.name,
            path=pool.path,
            spec=pool.spec,
            pool_job_uuid=uuid,
            pool_fw_id=fw_id,
            pool_size=len(pool.candidates),
            feature_names=pool.feature_names,
            objective=spec.active.objective.describe(),
            unit=spec.active.objective.unit,
            state="running",
            started_at=mark["at"],
        )
        entries = [
            PoolEntryDoc(campaign=spec.name, features=row, **c.model_dump(mode="json"))
            for c, row in zip(pool.candidates, pool.features, strict=True)
        ]
        record_loop(lp.db, record, entries)
    lp.fireworks.update_one({"fw_id": fw_id}, {"$set": {f"spec.{ACTIVE_POOL_RECORDED_KEY}": mark}})
    logger.info("active campaign %s: pool of %d recorded", spec.name, len(pool.candidates))
    return LoopStep(spec.name, "started", None, f"pool of {len(pool.candidates)}")


# ----------------------------------------------------------------------- one loop
def advance_loop(
    lp: LaunchPad,
    jobstore: JobStore,
    record: dict[str, Any],
    uri: str | None,
    build: Callable[[str | None], object] | None = None,
) -> LoopStep:
    """Move one running loop on by at most one round (see the module docstring)."""
    from htflow.campaign.spec import parse_campaign

    name = record["campaign"]
    spec = parse_campaign(record["spec"], source=record["path"])
    control = campaigns(lp).find_one({"campaign": name}) or {}
    if control.get("cancelled"):
        return stop_loop(lp, name, "campaign cancelled by an admin", None)
    if control.get("paused"):
        return LoopStep(name, "paused")
    pool = pool_entries(lp.db, name)
    rounds = round_docs(lp.db, name)
    last = RoundDoc.model_validate(rounds[-1]) if rounds else None
    if last is not None and last.state == "chosen":  # a kill between choice and submission
        submit_round(lp, spec, record["path"], pool, last)
        return LoopStep(name, "submitted", last.round, "(resumed)")
    if last is not None and last.state == "submitted":
        if not round_finished(lp, last):
            return LoopStep(name, "waiting", last.round)
        last = observe_round(
            lp, jobstore, spec, last, pool=pool, rounds=rounds, uri=uri, build=build
        )
        if last.stop_reason is None:
            return _next_round(lp, spec, record["path"], pool, [*rounds[:-1], _dump(last)])
        return stop_loop(lp, name, last.stop_reason, last.round)
    if last is not None and last.stop_reason is not None:
        return stop_loop(lp, name, last.stop_reason, last.round)
    return _next_round(lp, spec, record["path"], pool, rounds)


def _dump(doc: RoundDoc) -> dict[str, Any]:
    return doc.model_dump(mode="json")


def _next_round(
    lp: LaunchPad,
    spec: CampaignSpec,
    path: str,
    pool: list[dict[str, Any]],
    rounds: list[dict[str, Any]],
) -> LoopStep:
    doc = choose_round(lp.db, spec, pool, rounds)
    if doc is None:  # the stop rules cover this; an empty batch must still end the loop
        left = len(pool) - len(known_from(rounds).chosen)
        why = f"nothing left to propose ({left} candidates open, the budget allows none)"
        return stop_loop(lp, spec.name, why, len(rounds) - 1 if rounds else None)
    submit_round(lp, spec, path, pool, doc)
    labels = ", ".join(f"{c.label} {c.formula}" for c in doc.chosen)
    return LoopStep(spec.name, "submitted", doc.round, labels)


def stop_loop(lp: LaunchPad, campaign: str, reason: str, last_round: int | None) -> LoopStep:
    """Stop the loop for good with ``reason`` (one line)."""
    update_loop(lp.db, campaign, state="stopped", stop_reason=reason, stopped_at=now_iso())
    return LoopStep(campaign, "stopped", last_round, reason)


# ----------------------------------------------------------------------- results
def round_finished(lp: LaunchPad, doc: RoundDoc) -> bool:
    """Whether every Firework of the round's candidates and references is finished."""
    runs = [candidate_fireworks(lp, c.fw_ids) for c in doc.chosen]
    if doc.reference_fw_ids:
        references = candidate_fireworks(lp, doc.reference_fw_ids)
        runs.append(CandidateRun(references.fireworks))
    return all(candidate_outcome(run) != "running" for run in runs)


def observe_round(
    lp: LaunchPad,
    jobstore: JobStore,
    spec: CampaignSpec,
    doc: RoundDoc,
    *,
    pool: list[dict[str, Any]],
    rounds: list[dict[str, Any]],
    uri: str | None,
    build: Callable[[str | None], object] | None = None,
) -> RoundDoc:
    """Build materials, record what each candidate gave, the cost so far and the stop
    rule's verdict; the round is saved ``done``."""
    from pymatgen.core import Structure

    assert spec.active is not None
    if build is None:
        from htflow.builders import build_materials

        build = build_materials
    build(uri)
    entries = {entry["index"]: entry for entry in pool}
    field = spec.active.objective.field
    observations = []
    for chosen in doc.chosen:
        run = candidate_fireworks(lp, chosen.fw_ids)
        base = {"index": chosen.index, "label": chosen.label, "fw_ids": chosen.fw_ids}
        if candidate_outcome(run) == "failed":
            reason = failure_reason(lp, run)
            observations.append(Observation(outcome="failed", reason=reason, **base))
            continue
        entry = entries[chosen.index]
        found = read_material_values(
            spec, entry["formula"], Structure.from_dict(entry["structure"]), run.job_uuids, uri
        )
        value = found.fields.get(field)
        if value is None:
            reason = f"its material has no {field} ({found.how})"
            observations.append(
                Observation(
                    outcome="failed",
                    reason=reason,
                    fields=found.fields,
                    material_id=found.material_id,
                    **base,
                )
            )
            continue
        observations.append(
            Observation(
                outcome="completed",
                value=value,
                feasible=spec.active.is_feasible(found.fields),
                fields=found.fields,
                material_id=found.material_id,
                reason=f"read via {found.how}",
                **base,
            )
        )
    doc.observations = observations
    doc.core_hours_used = campaign_core_hours(lp, jobstore, spec.name)
    history = [*rounds[:-1], _dump(doc)]
    known = known_from(history)
    doc.calculations_used = len(known.chosen)
    doc.best_value, doc.best_label = best_so_far(spec, known.observed, known.feasible, pool)
    doc.stop_reason = verdict(spec, history, len(pool) - len(known.chosen))
    doc.state = "done"
    doc.done_at = now_iso()
    save_round(lp.db, doc)
    return doc


def best_so_far(
    spec: CampaignSpec,
    observed: dict[int, float],
    feasible: dict[int, bool],
    pool: list[dict[str, Any]],
) -> tuple[float | None, str | None]:
    """The best feasible value (field units) and its candidate's label; None, None: none."""
    assert spec.active is not None
    rows = [i for i in sorted(observed) if feasible.get(i, True)]
    if not rows:
        return None, None
    utility = spec.active.objective.utility(np.array([observed[i] for i in rows]))
    best = rows[int(np.argmax(utility))]
    label = next(e["label"] for e in pool if e["index"] == best)
    return observed[best], label


def verdict(spec: CampaignSpec, rounds: list[dict[str, Any]], pool_left: int) -> str | None:
    """:func:`htflow.active.stopping.stop_reason` over the finished rounds ``rounds``."""
    from htflow.active.learner import feasible_best
    from htflow.active.stopping import RoundSummary, stop_reason

    assert spec.active is not None
    history = []
    for k in range(len(rounds)):
        known = known_from(rounds[: k + 1])
        history.append(
            RoundSummary(
                round=rounds[k]["round"],
                evaluated=len(known.chosen),
                core_hours=rounds[k].get("core_hours_used") or 0.0,
                best_utility=feasible_best(spec.active, known.observed, known.feasible),
            )
        )
    active = spec.active
    return stop_reason(history, active.objective, active.budget, active.stop, pool_left)


__all__ = [
    "LoopStep",
    "advance_active_campaigns",
    "advance_loop",
    "best_so_far",
    "observe_round",
    "pending_pools",
    "read_pool",
    "round_finished",
    "start_loop",
    "start_loops",
    "stop_loop",
    "verdict",
]
