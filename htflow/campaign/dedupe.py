"""Duplicates within a campaign and against the database, by ``htflow.submit.identity``.

Within a campaign, two candidates are duplicates when
:func:`htflow.submit.identity.same_structure` matches them (StructureMatcher and the same
volume per atom): exactly the rule by which the database would call their calculations
the same. Against the database, a planned flow is a duplicate when every job of it that
has a structure matches a COMPLETED or queued Firework: the rule ``submit_flow`` applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.submit import DUPLICATE_STATES
from htflow.submit.identity import find_duplicates, identities_of, same_structure

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import Flow

    from htflow.campaign.candidate import Candidate


def dedupe_within(
    candidates: list[Candidate],
) -> tuple[list[Candidate], list[tuple[Candidate, Candidate]]]:
    """Keep the first of every group of matching candidates.

    Returns
    -------
    kept, duplicates
        The unique candidates (in order) and ``(duplicate, the kept candidate it matches)``.
    """
    matcher = StructureMatcher()
    kept: list[Candidate] = []
    by_formula: dict[str, list[Candidate]] = {}
    duplicates = []
    for candidate in candidates:
        # matching structures have equal reduced formulas: compare only within one formula
        group = by_formula.setdefault(candidate.formula, [])
        match = next(
            (k for k in group if same_structure(candidate.structure, k.structure, matcher)), None
        )
        if match is None:
            group.append(candidate)
            kept.append(candidate)
        else:
            duplicates.append((candidate, match))
    return kept, duplicates


def is_database_duplicate(flow: Flow, launchpad: LaunchPad, protocol: str | None) -> bool:
    """Whether ``submit_flow`` would add nothing of ``flow`` (all its identified jobs match)."""
    from dataclasses import replace

    jobs = [job for job, _ in flow.iterflow()]
    identities = identities_of(jobs)
    identified = [i for i in identities.values() if i.identifiable]
    if not identified:
        return False
    for identity in identified:
        if identity.protocol is None and protocol is not None:
            identity = replace(identity, protocol=protocol)  # noqa: PLW2901
        if not find_duplicates(launchpad.fireworks, identity, DUPLICATE_STATES):
            return False
    return True
