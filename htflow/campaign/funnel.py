"""The funnel's ML flow: relax every candidate with the ML potential, then screen on its hull.

One Flow per campaign (workflow ``funnel``):

- an ML relaxation per candidate, labelled ``c0000``, ``c0001`` … in candidate order;
- an ML relaxation per elemental reference (the ground-state guess and, for metals, fcc, bcc
  and hcp: the hull keeps the lowest) and per known phase (structures the database
  already holds in the campaign's chemical systems): the hull is the model's own, built from
  the same model's energies (a DFT energy and an ML energy are never mixed);
- the screen job (``htflow.ml.screen``), whose Firework carries ``spec.htflow_funnel``. Its
  output holds every decision and the plan the agent needs to submit the DFT stage: the
  campaign spec and each candidate's source entry (:func:`dft_plan`). When it completes, the
  agent (``htflow.agent.funnel``) submits the campaign's workflows on the kept candidates,
  starting from their ML-relaxed structures, through the usual duplicate and reuse checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.launch.spec import CAMPAIGN_KEY, FUNNEL_KEY, PRIORITY_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from jobflow import Flow, Job
    from pymatgen.core import Structure

    from htflow.campaign.candidate import Candidate
    from htflow.campaign.spec import CampaignSpec

FUNNEL_WORKFLOW = "funnel"


def candidate_label(index: int) -> str:
    """The label of the ``index``-th candidate in the funnel's jobs and records."""
    return f"c{index:04d}"


def dft_plan(candidates: list[Candidate], spec: CampaignSpec, path: Path) -> dict[str, Any]:
    """What the agent needs, after the screen, to submit the DFT stage (JSON-safe)."""
    return {
        "campaign": spec.name,
        "path": str(path),
        "spec": spec.model_dump(mode="json"),
        "entries": {candidate_label(i): c.entry for i, c in enumerate(candidates)},
        "sources": {candidate_label(i): c.source for i, c in enumerate(candidates)},
    }


def funnel_flow(
    candidates: list[Candidate],
    spec: CampaignSpec,
    path: Path,
    known_phases: list[tuple[str, Structure]] | None = None,
) -> Flow:
    """The campaign's ML flow (see the module docstring); ``spec.funnel`` must be set.

    Parameters
    ----------
    candidates
        The candidates after filters and in-campaign de-duplication.
    spec, path
        The campaign and its file.
    known_phases
        ``(label, structure)`` of phases the database already holds in the candidates'
        chemical systems; each is relaxed by the same model for the hull.
    """
    from jobflow import Flow

    from htflow.ml.references import elemental_reference_polymorphs
    from htflow.ml.relax import MLRelaxMaker
    from htflow.ml.screen import ml_screen_job

    funnel = spec.funnel
    assert funnel is not None
    maker = MLRelaxMaker(model=funnel.model, fmax=funnel.fmax, max_steps=funnel.max_steps)

    def relax(structure: Structure, name: str) -> Job:
        job = maker.make(structure)
        job.name = name
        return job

    relaxed = {
        candidate_label(i): relax(c.structure, f"ml relax {c.formula} {candidate_label(i)}")
        for i, c in enumerate(candidates)
    }
    elements = sorted({el.symbol for c in candidates for el in c.structure.composition})
    references = [  # the ground-state guess and cheap polymorphs: the lowest one counts
        relax(structure, f"ml relax {symbol} reference {i}")
        for symbol, structures in elemental_reference_polymorphs(elements).items()
        for i, structure in enumerate(structures)
    ]
    known = [relax(structure, f"ml relax {label} known") for label, structure in known_phases or []]
    screen = ml_screen_job(
        candidates={label: job.output for label, job in relaxed.items()},
        references=[job.output for job in references],
        known=[job.output for job in known],
        margin=funnel.margin if funnel.screens else None,
        plan=dft_plan(candidates, spec, path),
    )
    screen.name = "ml screen"
    flow = Flow([*relaxed.values(), *references, *known, screen], name=f"{spec.name} funnel")
    config: dict[str, Any] = {CAMPAIGN_KEY: spec.name, PRIORITY_KEY: spec.priority}
    flow.update_config({"manager_config": config})
    screen.update_config({"manager_config": config | {FUNNEL_KEY: True}})
    return flow


__all__ = ["FUNNEL_WORKFLOW", "candidate_label", "dft_plan", "funnel_flow"]
