"""Candidate checks and filters.

*Checks* reject broken input and stop the campaign (all-or-nothing): overlapping atoms
(``htflow.qe.sets.validation.check_structure``) and, unless ``missing_pseudo: skip``, an
element the pseudo family lacks. *Filters* drop candidates and count them by reason.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from htflow.exceptions import InputError
from htflow.qe.sets.validation import check_structure

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.campaign.candidate import Candidate
    from htflow.campaign.spec import Filters

# Filter names, in the order they are applied (also the keys of the dropped counts).
FILTER_NAMES = ("missing_pseudo", "max_sites", "min_distance", "charge_neutral")


def check_candidate(candidate: Candidate) -> None:
    """Refuse a broken structure; the error names the candidate's entry."""
    try:
        check_structure(candidate.structure)
    except InputError as exc:
        raise InputError(f"{candidate.entry}: {exc}") from None


def apply_filters(
    candidates: list[Candidate], filters: Filters, elements: set[str] | None
) -> tuple[list[Candidate], dict[str, list[Candidate]]]:
    """Split ``candidates`` into kept ones and dropped ones by filter name.

    Parameters
    ----------
    candidates
        Candidates that passed :func:`check_candidate`.
    filters
        The campaign's filters.
    elements
        Elements the pseudo family covers; None skips the pseudopotential check (VASP).

    Raises
    ------
    InputError
        An element without a pseudopotential while ``missing_pseudo`` is ``error``.
    """
    kept: list[Candidate] = []
    dropped: dict[str, list[Candidate]] = {name: [] for name in FILTER_NAMES}
    for candidate in candidates:
        reason = _reason(candidate, filters, elements)
        if reason is None:
            kept.append(candidate)
        else:
            dropped[reason].append(candidate)
    return kept, dropped


def _reason(candidate: Candidate, filters: Filters, elements: set[str] | None) -> str | None:
    structure = candidate.structure
    if elements is not None:
        missing = sorted({el.symbol for el in structure.composition.elements} - elements)
        if missing and filters.missing_pseudo == "error":
            raise InputError(
                f"{candidate.entry}: element(s) {', '.join(missing)} have no pseudopotential "
                "in the family: remove the entry, choose another pseudo_family, or set "
                "filters.missing_pseudo: skip"
            )
        if missing:
            return "missing_pseudo"
    if filters.max_sites is not None and len(structure) > filters.max_sites:
        return "max_sites"
    if filters.min_distance is not None and min_distance(structure) < filters.min_distance:
        return "min_distance"
    if filters.charge_neutral and not is_charge_neutral(structure):
        return "charge_neutral"
    return None


def min_distance(structure: Structure) -> float:
    """Shortest interatomic distance including periodic images (Å)."""
    if len(structure) == 1:
        return float(min(structure.lattice.abc))
    matrix = np.array(structure.distance_matrix)
    np.fill_diagonal(matrix, np.inf)
    shortest = float(matrix.min())
    # a single atom's own periodic image can be closer than any other atom
    return min(shortest, float(min(structure.lattice.abc)))


def is_charge_neutral(structure: Structure) -> bool:
    """True when pymatgen finds a charge-neutral oxidation-state guess (elementals always)."""
    composition = structure.composition
    if len(composition.elements) == 1:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(composition.oxi_state_guesses(max_sites=-1))
