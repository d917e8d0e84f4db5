"""The campaign pipeline: spec → candidates → checks → filters → dedupe → Flows.

Everything that can be wrong with a campaign is found here, before anything is submitted:
:func:`plan_campaign` either returns a complete :class:`CampaignPlan` or raises one
``InputError`` naming the file or entry at fault. The one exception is the ``cluster`` key:
:func:`htflow.submit.campaign.campaign_profile` loads the profile, and the caller (the
command line) checks it before planning. A plan is handed to
:func:`htflow.submit.campaign.submit_campaign`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.campaign.build import build_flows
from htflow.campaign.dedupe import dedupe_within, is_database_duplicate, planned_reuses
from htflow.campaign.filters import FILTER_NAMES, apply_filters, check_candidate
from htflow.campaign.references import REFERENCE_WORKFLOW, reference_flows
from htflow.campaign.sources import generate_candidates
from htflow.campaign.spec import load_campaign
from htflow.exceptions import HtflowError, InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fireworks import LaunchPad
    from pymatgen.core import Structure

    from htflow.campaign.build import PlannedFlow
    from htflow.campaign.candidate import Candidate
    from htflow.campaign.dedupe import PlannedReuse
    from htflow.campaign.spec import CampaignSpec


@dataclass
class CampaignPlan:
    """What a campaign would submit, and why each other candidate is left out.

    Attributes
    ----------
    spec, path
        The campaign and its file.
    generated
        Every candidate the sources produced.
    filtered
        Filter name → candidates it dropped.
    duplicates_within
        ``(candidate, the earlier candidate it matches)``.
    candidates
        Candidates that survive filters and in-campaign dedupe.
    flows
        Flows to submit (one per candidate and workflow, plus the elemental references the
        formation energies need), database duplicates excluded.
    database_duplicates
        Flows whose every calculation is already done or queued in the database.
    notes
        Sources skipped (offline, no API key) and similar remarks.
    reuses
        Starting relaxations of ``flows`` that submission will not run: served by a
        Firework in the database or by an earlier flow's relaxation (``htflow.submit.reuse``).
    """

    spec: CampaignSpec
    path: Path
    generated: list[Candidate]
    filtered: dict[str, list[Candidate]]
    duplicates_within: list[tuple[Candidate, Candidate]]
    candidates: list[Candidate]
    flows: list[PlannedFlow]
    database_duplicates: list[PlannedFlow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reuses: list[PlannedReuse] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Counts for the summary: generated, filtered by filter, duplicates, flows."""
        out = {"generated": len(self.generated)}
        out |= {f"filtered: {name}": len(c) for name, c in self.filtered.items() if c}
        out["duplicates within campaign"] = len(self.duplicates_within)
        out["candidates"] = len(self.candidates)
        out["flows already in database"] = len(self.database_duplicates)
        out["elemental references added"] = sum(
            p.workflow == REFERENCE_WORKFLOW for p in self.flows
        )
        out["flows to submit"] = len(self.flows)
        out["relaxations reused from database"] = sum(r.fw_id is not None for r in self.reuses)
        out["relaxations shared within campaign"] = sum(
            r.from_flow is not None for r in self.reuses
        )
        jobs = sum(len(list(p.flow.iterflow())) for p in self.flows)
        out["jobs to submit"] = jobs - len(self.reuses)
        return out


def plan_campaign(
    path: str | Path,
    *,
    launchpad: LaunchPad | None = None,
    network: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    known_phases: Callable[[set[str]], list[tuple[str, Structure]]] | None = None,
) -> CampaignPlan:
    """Load, generate, check, filter and de-duplicate a campaign; build its Flows.

    Parameters
    ----------
    path
        The campaign YAML file; relative structure paths start at its directory.
    launchpad
        The LaunchPad to de-duplicate against (None: no database check).
    network
        False skips the Materials Project and OPTIMADE sources.
    progress
        ``progress(stage, done, total)`` callback for progress bars.
    known_phases
        With a ``funnel``: elements → ``(label, structure)`` of the phases the database
        already holds in those elements' chemical systems, for the ML hull (None: none).

    Raises
    ------
    InputError
        Anything wrong with the campaign, as one line naming the file or entry.
    """
    path = Path(path)
    spec = load_campaign(path)
    if spec.funnel is not None:
        _check_ml_extra(spec, path)
    report = progress or (lambda stage, done, total: None)
    elements = _family_elements(spec, path)

    generated, notes = generate_candidates(spec.sources, path.resolve().parent, network=network)
    for i, candidate in enumerate(generated):
        check_candidate(candidate)
        report("checking", i + 1, len(generated))
    kept, filtered = apply_filters(generated, spec.filters, elements)
    duplicates: list[tuple[Candidate, Candidate]] = []
    if spec.dedupe.within_campaign:
        kept, duplicates = dedupe_within(kept)
    if not kept:
        raise InputError(
            f"{path}: the campaign has no candidates ({_empty_reason(generated, filtered)}): "
            "add sources or loosen the filters"
        )
    _check_inputs(kept, spec)
    if spec.funnel is None:
        flows = build_flows(kept, spec)
        references, reference_notes = reference_flows(kept, spec)
        flows += references
        notes += reference_notes
    else:  # the DFT stage, elemental references included, waits for the screen
        flows = [_funnel(kept, spec, path, known_phases)]
        notes.append(_funnel_note(spec, len(kept)))
    db_duplicates: list[PlannedFlow] = []
    if launchpad is not None and spec.dedupe.against_database:
        fresh = []
        for i, planned in enumerate(flows):
            if is_database_duplicate(planned.flow, launchpad, spec.protocol):
                db_duplicates.append(planned)
            else:
                fresh.append(planned)
            report("database", i + 1, len(flows))
        flows = fresh
    # submission reuses relaxations only when it checks the database (submit_flow's dedupe)
    reuses = []
    if spec.dedupe.against_database:
        reuses = planned_reuses([p.flow for p in flows], launchpad, spec.protocol)
    return CampaignPlan(
        spec=spec,
        path=path,
        generated=generated,
        filtered={name: filtered[name] for name in FILTER_NAMES},
        duplicates_within=duplicates,
        candidates=kept,
        flows=flows,
        database_duplicates=db_duplicates,
        notes=notes,
        reuses=reuses,
    )


def _check_ml_extra(spec: CampaignSpec, path: Path) -> None:
    from htflow.ml.models import require_ml_extra

    assert spec.funnel is not None
    try:
        require_ml_extra(spec.funnel.model)
    except HtflowError as exc:
        raise InputError(f"{path}: key 'funnel': {exc}") from None


def _funnel(
    candidates: list[Candidate],
    spec: CampaignSpec,
    path: Path,
    known_phases: Callable[[set[str]], list[tuple[str, Structure]]] | None,
) -> PlannedFlow:
    """The ML flow that stands for every candidate until the screen has run."""
    from htflow.campaign.build import PlannedFlow
    from htflow.campaign.funnel import FUNNEL_WORKFLOW, funnel_flow

    elements = {el.symbol for c in candidates for el in c.structure.composition}
    known = known_phases(elements) if known_phases is not None else []
    flow = funnel_flow(candidates, spec, path, known)
    return PlannedFlow(candidates[0], FUNNEL_WORKFLOW, flow)


def _funnel_note(spec: CampaignSpec, n_candidates: int) -> str:
    funnel = spec.funnel
    assert funnel is not None
    after = (
        f"those within {funnel.margin} eV/atom of the ML hull then run "
        if funnel.screens
        else "all of them then run "
    )
    dft = (
        after + ", ".join(s.name for s in spec.workflow) + " from the ML-relaxed structures"
        if funnel.runs_dft
        else "no DFT stage"
    )
    return (
        f"funnel: {n_candidates} candidates are relaxed by {funnel.model} first; {dft} "
        "(submitted by the agent when the screen is done)"
    )


def _family_elements(spec: CampaignSpec, path: Path) -> set[str] | None:
    if spec.code != "qe":
        return None
    from htflow.qe.pseudos import get_pseudo_family

    try:
        return set(get_pseudo_family(spec.pseudo_family).elements)
    except HtflowError as exc:
        raise InputError(f"{path}: key 'pseudo_family': {exc}") from None


def _check_inputs(candidates: list[Candidate], spec: CampaignSpec) -> None:
    """Generate one pw.x input per candidate: every input error surfaces before submission."""
    if spec.code != "qe":
        return
    from htflow.qe.sets import PwInputGenerator

    generator = PwInputGenerator(
        calculation="vc-relax", protocol=spec.protocol, pseudo_family=spec.pseudo_family
    )
    for candidate in candidates:
        try:
            generator.get_input(candidate.structure)
        except HtflowError as exc:
            raise InputError(f"{candidate.entry}: {exc}") from None


def _empty_reason(generated: list[Candidate], filtered: dict[str, list[Any]]) -> str:
    if not generated:
        return "the sources produced no structure"
    dropped = ", ".join(f"{len(c)} by {name}" for name, c in filtered.items() if c)
    return f"{len(generated)} generated, {dropped or 'all duplicates'}"
