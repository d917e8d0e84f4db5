"""Duplicates within a campaign and against the database, by ``htflow.submit.identity``.

Within a campaign, two candidates are duplicates when
:func:`htflow.submit.identity.same_structure` matches them (StructureMatcher and the same
volume per atom): exactly the rule by which the database would call their calculations
the same. Against the database, a planned flow is a duplicate when every job of it that
has a structure matches a COMPLETED or queued Firework: the rule ``submit_flow`` applies.
:func:`planned_reuses` tells, by the same rule, which starting relaxations submission will
not run again (``htflow.submit.reuse``): those the database already holds, and those of a
material's later flows that its first flow in the campaign relaxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.submit import DUPLICATE_STATES
from htflow.submit.identity import find_duplicates, identities_of, same_identity, same_structure
from htflow.submit.reuse import REUSE_STATES, is_starting_relaxation

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fireworks import LaunchPad
    from jobflow import Flow

    from htflow.campaign.candidate import Candidate
    from htflow.submit.identity import JobIdentity


@dataclass(frozen=True)
class PlannedReuse:
    """A starting relaxation of a planned flow that another relaxation will serve.

    Attributes
    ----------
    flow
        Index of the planned flow in the plan's flows.
    job_name
        The relaxation's job name.
    from_flow
        Index of the earlier planned flow whose relaxation serves it (None: the database).
    fw_id, state
        The Firework in the database that serves it, and its state (None: the campaign).
    """

    flow: int
    job_name: str
    from_flow: int | None = None
    fw_id: int | None = None
    state: str | None = None


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
    identified = [i for i in _identities(flow, protocol).values() if i.identifiable]
    if not identified:
        return False
    return all(find_duplicates(launchpad.fireworks, i, DUPLICATE_STATES) for i in identified)


def planned_reuses(
    flows: Sequence[Flow], launchpad: LaunchPad | None, protocol: str | None
) -> list[PlannedReuse]:
    """The starting relaxations of ``flows`` (submitted in this order) that will not run.

    A relaxation matching a COMPLETED or queued Firework of ``launchpad`` (None: no database)
    is served by it; else one matching a relaxation of an earlier flow is served by that one.
    """
    earlier: list[tuple[JobIdentity, int]] = []
    matcher = StructureMatcher()
    out = []
    for index, flow in enumerate(flows):
        identities = _identities(flow, protocol)
        for job, _ in flow.iterflow():
            identity = identities[job.uuid]
            if not (identity.identifiable and is_starting_relaxation(job)):
                continue
            found = (
                find_duplicates(launchpad.fireworks, identity, REUSE_STATES) if launchpad else []
            )
            if found:
                best = min(found, key=lambda m: (REUSE_STATES.index(m["state"]), m["fw_id"]))
                out.append(PlannedReuse(index, job.name, fw_id=best["fw_id"], state=best["state"]))
                continue
            source = next(
                (i for other, i in earlier if same_identity(identity, other, matcher)), None
            )
            if source is None:
                earlier.append((identity, index))
            else:
                out.append(PlannedReuse(index, job.name, from_flow=source))
    return out


def _identities(flow: Flow, protocol: str | None) -> dict[str, JobIdentity]:
    """Identities of ``flow``'s jobs, with ``protocol`` where the Maker tells none (as
    ``submit_flow(..., protocol=...)`` records them)."""
    identities = identities_of(job for job, _ in flow.iterflow())
    if protocol is None:
        return identities
    return {
        uuid: i if i.protocol is not None else replace(i, protocol=protocol)
        for uuid, i in identities.items()
    }
