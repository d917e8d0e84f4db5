"""The ML screen: keep a candidate when its ML energy above the hull is at most the margin.

The hull is built from one model's energies (:mod:`htflow.ml.hull`): the elemental
references, the known phases and the candidates themselves. The screen never drops a
candidate because the ML side failed: a relaxation that blew up, did not converge, or has
no working reference for one of its elements is kept, and DFT decides. A failed
relaxation's energy is left out of the hull (it could be anything); an unconverged one's
is kept in, since it is an upper bound on its minimum and cannot push another phase up.
"""

from __future__ import annotations

import math
from typing import Any

from jobflow import job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from htflow.exceptions import InputError
from htflow.ml.hull import EnergyCorrection, MLHullResult, MLPhase, element_symbols, ml_hull
from htflow.ml.models import MODEL_ENERGY_CORRECTION
from htflow.ml.relax import MLRelaxDoc

DEFAULT_MARGIN = 0.1
# Symmetry tolerance (Å) of the DFT start: an ML relaxation breaks symmetry by ~1e-6 Å.
SYMPREC = 1e-3


class ScreenDecision(BaseModel):
    """What the screen decided for one candidate, and why."""

    label: str = Field(description="The candidate's id.")
    formula: str = Field(description="Reduced formula.")
    energy_per_atom: float | None = Field(
        description="The model's energy of the relaxed candidate (eV/atom), uncorrected; None "
        "when the model gave none."
    )
    e_above_hull: float | None = Field(
        description="Energy above the ML hull (eV/atom); None when it could not be computed."
    )
    formation_energy_per_atom: float | None = Field(
        description="ML formation energy from the elemental references (eV/atom); None with "
        "e_above_hull."
    )
    margin: float | None = Field(
        description="Kept when e_above_hull ≤ margin (eV/atom); None: no screen, every "
        "candidate is kept (pre-relaxation only)."
    )
    kept: bool = Field(description="True when the candidate goes on to DFT.")
    reason: str = Field(description="One line: why it was kept or screened out.")
    structure: Structure = Field(
        description="Where DFT starts (Å): the ML-relaxed structure, or the input one when "
        "the ML relaxation failed."
    )
    ml_converged: bool = Field(description="Whether the ML relaxation converged.")
    model: str = Field(description="ML model name.")
    model_version: str = Field(description="ML package and weights.")


class MLScreenDoc(BaseModel):
    """The ML screen of a campaign's candidates."""

    decisions: list[ScreenDecision] = Field(description="One per candidate, in input order.")
    margin: float | None = Field(
        description="Energy-above-hull margin (eV/atom); None: no screen (pre-relaxation)."
    )
    model: str | None = Field(description="ML model name; None when there was nothing to screen.")
    model_version: str | None = Field(description="ML package and weights; None with model.")
    energy_correction: EnergyCorrection = Field(
        description="Energy corrections on the ML hull: 'mp2020' or 'none'."
    )
    n_kept: int = Field(description="Candidates going on to DFT (count).")
    n_screened_out: int = Field(description="Candidates screened out (count).")
    plan: dict[str, Any] = Field(
        default_factory=dict, description="Opaque passthrough for the planner (the DFT plan)."
    )

    def kept(self) -> list[ScreenDecision]:
        """The decisions that go on to DFT."""
        return [d for d in self.decisions if d.kept]


def dft_start(structure: Structure, symprec: float = SYMPREC) -> Structure:
    """``structure`` with its symmetry made exact: the primitive standard cell (Å).

    An ML relaxation leaves the lattice symmetric only to ~1e-6 Å. pw.x finds the symmetry
    within its tolerance, but projwfc checks the rotation matrices strictly and stops
    ("D_S (l=2) for this symmetry operation is not orthogonal", seen on diamond C in the
    demo). The structure is returned unchanged when spglib finds no cell at ``symprec`` (Å).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        snapped = SpacegroupAnalyzer(structure, symprec=symprec).get_primitive_standard_structure()
    except (TypeError, ValueError):
        return structure
    if snapped.composition.reduced_formula != structure.composition.reduced_formula:
        return structure
    return snapped


def _check_margin(margin: float | None) -> float | None:
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, int | float):
        raise InputError(f"ML screen margin must be a number in eV/atom, got {margin!r}")
    if not math.isfinite(margin) or margin < 0:
        raise InputError(f"ML screen margin must be a finite number ≥ 0 eV/atom, got {margin}")
    return float(margin)


def _as_doc(value: MLRelaxDoc | dict[str, Any]) -> MLRelaxDoc:
    """A resolved job output arrives as an MLRelaxDoc or as its serialized dict."""
    return value if isinstance(value, MLRelaxDoc) else MLRelaxDoc.model_validate(value)


def _one_model(docs: list[MLRelaxDoc]) -> tuple[str | None, str | None]:
    versions = sorted({(d.model, d.model_version) for d in docs})
    if len(versions) > 1:
        named = " and ".join(f"{m} ({v})" for m, v in versions)
        raise InputError(f"the ML screen mixes {named}: relax every phase with one model")
    return versions[0] if versions else (None, None)


def _phase(label: str, doc: MLRelaxDoc, role: str) -> MLPhase:
    return MLPhase.model_validate(
        {
            "label": label,
            "composition": doc.structure.composition.formula,
            "energy_per_atom": doc.energy_per_atom,
            "role": role,
            "structure": doc.structure,
        }
    )


def _usable(doc: MLRelaxDoc) -> bool:
    return doc.failure is None and doc.energy_per_atom is not None


def _reason(
    label: str,
    doc: MLRelaxDoc,
    result: MLHullResult | None,
    margin: float | None,
    missing: list[str],
) -> tuple[bool, str]:
    """Whether the candidate goes on to DFT, and why (one line)."""
    if doc.failure is not None or doc.energy_per_atom is None:
        failure = doc.failure or "no energy"
        return True, f"kept: the ML relaxation failed ({failure}): DFT decides"
    if missing:
        return True, (
            f"kept: no working ML reference for {', '.join(missing)} (its relaxation failed): "
            "DFT decides"
        )
    if result is None:  # every usable candidate whose elements have references is on the hull
        raise RuntimeError(f"the ML hull has no result for {label!r}")
    distance = f"{result.e_above_hull:.3f} eV/atom above the ML hull"
    if margin is None:
        return True, f"kept: no ml_screen stage ({distance}, {doc.model})"
    if not doc.converged:
        return True, (
            f"kept: the ML relaxation did not converge in {doc.n_steps} steps ({distance} at "
            f"its last step, margin {margin:g} eV/atom, {doc.model}): DFT decides"
        )
    if result.e_above_hull <= margin:
        return True, f"kept: {distance} (margin {margin:g} eV/atom, {doc.model})"
    into = f" (decomposes to {' + '.join(result.decomposition)})" if result.decomposition else ""
    return False, f"screened out: {distance}{into}, margin {margin:g} eV/atom ({doc.model})"


def screen(
    candidates: dict[str, MLRelaxDoc],
    references: list[MLRelaxDoc],
    known: list[MLRelaxDoc],
    margin: float | None = DEFAULT_MARGIN,
    plan: dict[str, Any] | None = None,
    *,
    correction: EnergyCorrection | None = None,
) -> MLScreenDoc:
    """Screen the candidates on one model's hull; margin in eV/atom.

    ``correction`` None takes the model's own (MP2020 for SevenNet, none for CHGNet, whose
    energies already carry it: :data:`htflow.ml.models.MODEL_ENERGY_CORRECTION`).

    ``candidates`` maps each candidate's id to its ML relaxation; ``references`` are the
    relaxed elemental references (several per element are fine: the lowest counts) and
    ``known`` the relaxed phases the campaign or database already holds. Raises InputError
    for a bad margin, docs from different models, or an element with no reference at all.
    """
    margin = _check_margin(margin)
    candidates = {label: _as_doc(d) for label, d in candidates.items()}
    references = [_as_doc(d) for d in references]
    known = [_as_doc(d) for d in known]
    model, version = _one_model([*candidates.values(), *references, *known])
    if correction is None:
        correction = MODEL_ENERGY_CORRECTION[model] if model is not None else "none"
    _check_references(candidates, references, known)
    working = {sym for d in references if _usable(d) for sym in element_symbols(d.formula)}
    phases = [
        _phase(f"reference #{i} ({d.formula})", d, "elemental_reference")
        for i, d in enumerate(references)
        if _usable(d)
    ]
    phases += [
        _phase(f"known #{i} ({d.formula})", d, "known_phase")
        for i, d in enumerate(known)
        if _usable(d) and element_symbols(d.formula) <= working
    ]
    missing = {
        label: sorted(element_symbols(d.formula) - working) for label, d in candidates.items()
    }
    phases += [
        _phase(label, d, "candidate")
        for label, d in candidates.items()
        if _usable(d) and not missing[label]
    ]
    results = ml_hull(phases, correction) if phases else {}
    decisions = []
    for label, doc in candidates.items():
        result = results.get(label)
        kept, reason = _reason(label, doc, result, margin, missing[label])
        decisions.append(
            ScreenDecision(
                label=label,
                formula=doc.formula,
                energy_per_atom=doc.energy_per_atom,
                e_above_hull=None if result is None else result.e_above_hull,
                formation_energy_per_atom=(
                    None if result is None else result.formation_energy_per_atom
                ),
                margin=margin,
                kept=kept,
                reason=reason,
                structure=dft_start(doc.input_structure if doc.failure else doc.structure),
                ml_converged=doc.converged,
                model=doc.model,
                model_version=doc.model_version,
            )
        )
    n_kept = sum(d.kept for d in decisions)
    return MLScreenDoc(
        decisions=decisions,
        margin=margin,
        model=model,
        model_version=version,
        energy_correction=correction,
        n_kept=n_kept,
        n_screened_out=len(decisions) - n_kept,
        plan=plan or {},
    )


def _check_references(
    candidates: dict[str, MLRelaxDoc], references: list[MLRelaxDoc], known: list[MLRelaxDoc]
) -> None:
    """Every element needs at least one reference given (working or not): else a config error."""
    given = {sym for d in references for sym in element_symbols(d.formula)}
    for d in references:
        if len(element_symbols(d.formula)) != 1:
            raise InputError(f"elemental reference {d.formula} is not one element")
    needed = {sym for d in [*candidates.values(), *known] for sym in element_symbols(d.formula)}
    if needed - given:
        raise InputError(
            f"no elemental reference for {', '.join(sorted(needed - given))} in the ML screen: "
            "relax one (htflow.ml.references.elemental_reference_structures) and pass it"
        )


# The screen as a jobflow job: the relaxations' OutputReferences resolve when it runs.
ml_screen_job = job(screen, name="ml screen", output_schema=MLScreenDoc)
