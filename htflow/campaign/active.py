"""An active campaign's plan: one small job that featurizes the candidate pool.

Planning an active campaign (``strategy: active``) gives the same candidates as any campaign
(sources, filters, in-campaign de-duplication), but none of their DFT flows: the plan is one
job, ``active pool``, whose Firework carries ``spec.htflow_active_pool``. It runs on the
compute side like any job (no database), computes each candidate's composition and structure
features (:func:`htflow.active.features.featurize`) and returns an :class:`ActivePoolDoc`
that carries the plan of the loop: the campaign spec and, per candidate, its label, spec
entry, source and structure. When it completes, the agent (``htflow.agent.active``) records
the pool and runs the rounds: each round's batch is chosen by the surrogate from the results
so far and submitted with the campaign's workflows (docs/active_loop.md).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from jobflow import job
from pydantic import BaseModel, Field, field_validator

from htflow.launch.spec import ACTIVE_POOL_KEY, CAMPAIGN_KEY, PRIORITY_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from jobflow import Flow

    from htflow.campaign.candidate import Candidate
    from htflow.campaign.spec import CampaignSpec

ACTIVE_WORKFLOW = "active pool"


def candidate_label(index: int) -> str:
    """The label of the ``index``-th candidate of the pool (``c0000``, ``c0001`` …)."""
    return f"c{index:04d}"


class PoolCandidate(BaseModel):
    """One candidate of an active campaign's pool, as planning found it."""

    index: int = Field(description="Position in the pool (0-based, candidate order).")
    label: str = Field(description="Candidate label within the campaign (c0000, c0001 …).")
    entry: str = Field(description="The campaign spec entry the candidate came from.")
    source: str = Field(description="files, prototypes, materials_project or optimade.")
    formula: str = Field(description="Reduced formula.")
    structure: dict[str, Any] = Field(description="The candidate structure (pymatgen dict, Å).")

    @field_validator("structure", mode="before")
    @classmethod
    def _as_dict(cls, value: Any) -> Any:
        # jobflow decodes the job's arguments: the dict arrives as a pymatgen Structure
        return value.as_dict() if hasattr(value, "as_dict") else value


class ActivePoolDoc(BaseModel):
    """The output of the pool job: the plan of the loop and the features of every candidate."""

    campaign: str = Field(description="The campaign name.")
    path: str = Field(description="The campaign file planning read (for messages).")
    spec: dict[str, Any] = Field(description="The campaign spec (JSON), as planned.")
    candidates: list[PoolCandidate] = Field(description="The pool, in candidate order.")
    feature_names: list[str] = Field(
        description="Column names of ``features`` (htflow.active.features.FEATURE_NAMES)."
    )
    features: list[list[float]] = Field(
        description="One row per candidate: element-property statistics in each property's "
        "own units (Å for radii, amu for masses, counts for electrons), then volume per atom "
        "(Å³/atom), density (g/cm³), sites (count), packing fraction and shortest distance (Å)."
    )
    elapsed_seconds: float = Field(description="Wall time of the featurization (s).")


def pool_plan(candidates: list[Candidate], spec: CampaignSpec, path: Path) -> dict[str, Any]:
    """What the pool job carries to the agent (JSON-safe): the spec and every candidate."""
    return {
        "campaign": spec.name,
        "path": str(path),
        "spec": spec.model_dump(mode="json"),
        "candidates": [
            PoolCandidate(
                index=i,
                label=candidate_label(i),
                entry=c.entry,
                source=c.source,
                formula=c.formula,
                structure=c.structure.as_dict(),
            ).model_dump(mode="json")
            for i, c in enumerate(candidates)
        ],
    }


def featurize_pool(plan: dict[str, Any]) -> ActivePoolDoc:
    """Featurize the pool of ``plan`` (:func:`pool_plan`); the pool job's function."""
    from pymatgen.core import Structure

    from htflow.active.features import FEATURE_NAMES, featurize

    start = time.perf_counter()
    candidates = [PoolCandidate.model_validate(c) for c in plan["candidates"]]
    features = featurize([Structure.from_dict(c.structure) for c in candidates])
    return ActivePoolDoc(
        campaign=plan["campaign"],
        path=plan.get("path", ""),
        spec=plan["spec"],
        candidates=candidates,
        feature_names=list(FEATURE_NAMES),
        features=features.tolist(),
        elapsed_seconds=time.perf_counter() - start,
    )


# The pool as a jobflow job: a plain Python job, so a small one that packs beside others.
active_pool_job = job(featurize_pool, name=ACTIVE_WORKFLOW, output_schema=ActivePoolDoc)


def active_pool_flow(candidates: list[Candidate], spec: CampaignSpec, path: Path) -> Flow:
    """The plan of an active campaign: the pool job, marked ``spec.htflow_active_pool``."""
    from jobflow import Flow

    pool = active_pool_job(pool_plan(candidates, spec, path))
    flow = Flow([pool], name=f"{spec.name} {ACTIVE_WORKFLOW}")
    config: dict[str, Any] = {CAMPAIGN_KEY: spec.name, PRIORITY_KEY: spec.priority}
    pool.update_config({"manager_config": config | {ACTIVE_POOL_KEY: True}})
    return flow


def round_zero_note(spec: CampaignSpec, pool_size: int) -> str:
    """What ``htflow submit`` says an active campaign will do first."""
    active = spec.active
    assert active is not None
    budget = active.budget
    limits = [
        *([f"{budget.calculations} calculations"] if budget.calculations is not None else []),
        *([f"{budget.core_hours:g} core-hours"] if budget.core_hours is not None else []),
    ]
    workflows = ", ".join(s.name for s in spec.workflow)
    return (
        f"active: a pool of {pool_size} candidates is featurized first; round 0 then runs "
        f"{workflows} on {active.initial_size()} of them, spread over the pool (seed "
        f"{active.initial.seed}); each later round sends {active.acquisition.batch_size} "
        f"chosen by {active.acquisition.kind} on a {active.surrogate.backend} surrogate of "
        f"{active.objective.describe()}, until the budget ({' or '.join(limits)}) or a stop "
        "rule (submitted by the agent, round by round)"
    )


__all__ = [
    "ACTIVE_WORKFLOW",
    "ActivePoolDoc",
    "PoolCandidate",
    "active_pool_flow",
    "active_pool_job",
    "candidate_label",
    "featurize_pool",
    "pool_plan",
    "round_zero_note",
]
