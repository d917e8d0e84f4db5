"""The convex hull of one ML model's energies: energy above the hull and formation energy.

Pure (pymatgen only, no torch). Every phase is an entry with the model's energy per atom;
the hull is pymatgen's :class:`~pymatgen.analysis.phase_diagram.PhaseDiagram` over all of
them, so several references for one element (polymorphs) simply compete and the lowest
one counts.

Both models learned the Materials Project's energy scale (MPtrj), but not the same one:
CHGNet 0.3.0 predicts MP2020-corrected energies, SevenNet-0 raw GGA/GGA+U energies
(:data:`htflow.ml.models.MODEL_ENERGY_CORRECTION`). ``correction="mp2020"`` applies MP2020's
corrections as Matbench Discovery does for such models: the anion corrections (oxide,
peroxide, sulfide, halides...) and the GGA/GGA+U mixing correction, treating a phase as
GGA+U exactly when the Materials Project would have run it with U (a U metal with O or F as
the most electronegative element). ``correction="none"`` takes the energies as they are.
"""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element, Structure
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from htflow.exceptions import InputError

PhaseRole = Literal["candidate", "elemental_reference", "known_phase"]
EnergyCorrection = Literal["mp2020", "none"]


class MLPhase(BaseModel):
    """One phase on the ML hull."""

    label: str = Field(description="Candidate id or phase name; unique among the phases.")
    composition: str = Field(description="Formula, e.g. 'NaCl' (any multiple).")
    energy_per_atom: float = Field(description="The model's energy per atom (eV/atom).")
    role: PhaseRole = Field(
        description="'candidate' (gets a result), 'elemental_reference' or 'known_phase'."
    )
    structure: Structure | None = Field(
        None,
        description="The relaxed structure (Å), when known: MP2020 tells oxides from "
        "peroxides by it.",
    )

    @field_validator("composition")
    @classmethod
    def _parseable(cls, value: str) -> str:
        try:
            composition = Composition(value, strict=True)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{value!r} is not a chemical formula") from exc
        if composition.num_atoms <= 0:
            raise ValueError(f"{value!r} has no atoms")
        return value


class MLHullResult(BaseModel):
    """Where one candidate sits relative to the ML hull."""

    label: str = Field(description="The candidate's label.")
    formula: str = Field(description="Reduced formula.")
    e_above_hull: float = Field(description="Energy above the ML hull (eV/atom), ≥ 0.")
    formation_energy_per_atom: float = Field(
        description="Formation energy from the elemental references (eV/atom)."
    )
    energy_correction_per_atom: float = Field(
        description="The MP2020 correction added to the model's energy (eV/atom); 0 without."
    )
    decomposition: list[str] = Field(
        description="Reduced formulas of the hull phases it decomposes into (itself when on "
        "the hull)."
    )


@cache
def _mp2020() -> MaterialsProject2020Compatibility:
    # check_potcar=False: the energies are a model's, not a VASP run's.
    return MaterialsProject2020Compatibility(check_potcar=False)


def _mp_parameters(composition: Composition) -> dict[str, object]:
    """The run type and U values the Materials Project would have used for this composition."""
    most_electronegative = max(composition.elements, key=lambda el: el.X).symbol
    u_values = _mp2020().u_settings.get(most_electronegative, {})
    hubbards = {el.symbol: u_values[el.symbol] for el in composition if el.symbol in u_values}
    return {"run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards, "software": "ml"}


def _entry(phase: MLPhase, correction: EnergyCorrection) -> ComputedEntry:
    composition = Composition(phase.composition)
    if phase.structure is not None:
        composition = phase.structure.composition
    energy = phase.energy_per_atom * composition.num_atoms
    parameters = _mp_parameters(composition) if correction == "mp2020" else {}
    entry: ComputedEntry
    if phase.structure is not None:
        entry = ComputedStructureEntry(
            phase.structure, energy, parameters=parameters, entry_id=phase.label
        )
    else:
        entry = ComputedEntry(composition, energy, parameters=parameters, entry_id=phase.label)
    if correction == "none":
        return entry
    with warnings.catch_warnings():  # oxidation-state guesses and peroxide detection chatter
        warnings.simplefilter("ignore")
        corrected = _mp2020().process_entry(entry, inplace=False)
    if corrected is None:
        raise InputError(
            f"MP2020 cannot correct ML phase {phase.label!r} ({phase.composition}): "
            "use correction='none' for this hull"
        )
    return corrected


def _check_phases(phases: list[MLPhase]) -> None:
    labels = [p.label for p in phases]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise InputError(f"ML hull phases need unique labels; repeated: {', '.join(duplicates)}")
    for phase in phases:
        if not math.isfinite(phase.energy_per_atom):
            raise InputError(f"ML phase {phase.label!r} has a non-finite energy: leave it out")
        elements = Composition(phase.composition).elements
        if phase.role == "elemental_reference" and len(elements) != 1:
            raise InputError(
                f"elemental reference {phase.label!r} is {phase.composition}, not one element"
            )
    have = {
        el for p in phases if len(els := Composition(p.composition).elements) == 1 for el in els
    }
    needed = {el for p in phases for el in Composition(p.composition).elements}
    missing = sorted(needed - have, key=lambda el: el.Z)
    if missing:
        symbols = ", ".join(el.symbol for el in missing)
        raise InputError(
            f"no elemental reference for {symbols} in the ML hull: relax one "
            "(htflow.ml.references.elemental_reference_structures) and add it as an "
            "'elemental_reference' phase"
        )


def ml_hull(
    phases: list[MLPhase], correction: EnergyCorrection = "none"
) -> dict[str, MLHullResult]:
    """Energy above the hull and formation energy (eV/atom) of each candidate, by label.

    The hull is built from all phases (candidates included). Raises InputError for an
    element without any single-element phase, repeated labels or a non-finite energy.
    """
    _check_phases(phases)
    entries = {p.label: _entry(p, correction) for p in phases}
    diagram = PhaseDiagram(list(entries.values()))
    results = {}
    for phase in phases:
        if phase.role != "candidate":
            continue
        entry = entries[phase.label]
        decomposition, e_above_hull = diagram.get_decomp_and_e_above_hull(entry)
        results[phase.label] = MLHullResult(
            label=phase.label,
            formula=entry.composition.reduced_formula,
            e_above_hull=max(0.0, float(e_above_hull or 0.0)),
            formation_energy_per_atom=float(diagram.get_form_energy_per_atom(entry)),
            energy_correction_per_atom=float(entry.correction_per_atom),
            decomposition=sorted(d.composition.reduced_formula for d in decomposition or {}),
        )
    return results


def energies_above_hull(
    phases: list[MLPhase], correction: EnergyCorrection = "none"
) -> dict[str, float]:
    """Energy above the ML hull of each candidate (eV/atom), by label; see :func:`ml_hull`."""
    return {label: r.e_above_hull for label, r in ml_hull(phases, correction).items()}


def element_symbols(formula: str) -> set[str]:
    """The element symbols of a formula."""
    return {el.symbol for el in Composition(formula).elements if isinstance(el, Element)}
