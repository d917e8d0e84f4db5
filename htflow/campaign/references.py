"""Elemental references a campaign needs for formation energies, added automatically.

A formation energy is taken against the elements computed with the same code, protocol and
pseudo family. When a campaign's candidates contain an element whose pure form is neither
among the candidates nor (by duplicate detection) already in the database, the plan adds a
reference calculation: vc-relax → static for a solid; for a diatomic molecule or noble gas in
a box (:func:`htflow.campaign.sources.elements.reference_structures`), a fixed-cell relax →
static at the Γ point, spin-polarised for O₂ (a triplet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.campaign.build import PlannedFlow
from htflow.campaign.candidate import Candidate
from htflow.campaign.sources.elements import MOLECULE_BOX, reference_structures
from htflow.exceptions import InputError
from htflow.launch.spec import CAMPAIGN_KEY, PRIORITY_KEY

if TYPE_CHECKING:
    from jobflow import Flow
    from pymatgen.core import Structure

    from htflow.campaign.spec import CampaignSpec

REFERENCE_WORKFLOW = "elemental_reference"
REFERENCE_SOURCE = "reference"
# Molecules whose ground state is spin-polarised.
TRIPLETS = frozenset({"O"})


def missing_elements(candidates: list[Candidate]) -> list[str]:
    """Elements of the candidates with no pure-element candidate, in order of appearance."""
    present = {c.structure.composition.elements[0].symbol for c in candidates if _is_elemental(c)}
    needed = dict.fromkeys(el.symbol for c in candidates for el in c.structure.composition.elements)
    return [el for el in needed if el not in present]


def reference_flows(
    candidates: list[Candidate], spec: CampaignSpec
) -> tuple[list[PlannedFlow], list[str]]:
    """Reference flows for the elements the candidates lack, and notes on those it cannot add."""
    if spec.code != "qe":
        return [], ["elemental references are added automatically for code: qe only"]
    planned, notes = [], []
    for element in missing_elements(candidates):
        try:
            structure = reference_structures([element])[element]
        except InputError as exc:
            notes.append(f"no elemental reference added for {element}: {exc}")
            continue
        candidate = Candidate(structure, f"reference {element}", REFERENCE_SOURCE)
        flow = reference_flow(structure, element, spec.protocol, spec.pseudo_family)
        flow.name = f"{spec.name} {element} {REFERENCE_WORKFLOW}"
        config: dict[str, Any] = {CAMPAIGN_KEY: spec.name, PRIORITY_KEY: spec.priority}
        flow.update_config({"manager_config": config})
        planned.append(PlannedFlow(candidate, REFERENCE_WORKFLOW, flow))
    return planned, notes


def reference_flow(
    structure: Structure, element: str, protocol: str, pseudo_family: str | None
) -> Flow:
    """Relax → static for one elemental reference (fixed cell at Γ for a molecule in a box)."""
    from jobflow import Flow

    from htflow.qe.jobs import RelaxMaker, StaticMaker
    from htflow.qe.sets import PwInputGenerator

    molecule = _in_a_box(structure)
    options: dict[str, Any] = {"protocol": protocol, "pseudo_family": pseudo_family}
    if molecule:
        options["kpoints_mesh"] = (1, 1, 1)
        if element in TRIPLETS:
            options["spin"] = "collinear"
    relax = RelaxMaker(
        name="reference relax",
        input_set_generator=PwInputGenerator(
            calculation="relax" if molecule else "vc-relax", **options
        ),
    ).make(structure)
    static = StaticMaker(
        name="static", input_set_generator=PwInputGenerator(calculation="scf", **options)
    ).make(relax.output.structure)
    return Flow([relax, static], output=static.output, name=f"{element} reference")


def _is_elemental(candidate: Candidate) -> bool:
    return len(candidate.structure.composition.elements) == 1


def _in_a_box(structure: Structure) -> bool:
    return min(structure.lattice.abc) >= MOLECULE_BOX - 1e-6
