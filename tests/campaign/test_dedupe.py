"""Duplicates within a campaign and against the database (htflow.submit.identity rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.core.operations import SymmOp

from htflow.campaign.build import workflow_flow
from htflow.campaign.candidate import Candidate
from htflow.campaign.dedupe import dedupe_within, is_database_duplicate
from htflow.campaign.sources.prototypes import prototype_structure
from htflow.submit import submit_flow
from tests.campaign.conftest import rocksalt_nacl, silicon

if TYPE_CHECKING:
    from fireworks import LaunchPad


def rotated(structure: Structure) -> Structure:
    op = SymmOp.from_axis_angle_and_translation([0, 0, 1], 30)
    lattice = Lattice(op.operate_multi(structure.lattice.matrix))
    coords = op.operate_multi(structure.cart_coords) + np.array([0.3, -0.2, 0.7])
    return Structure(lattice, structure.species, coords, coords_are_cartesian=True)


def test_within_campaign_keeps_first_of_each_match() -> None:
    conventional = silicon().copy()
    conventional.make_supercell([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])  # the 8-atom cube
    candidates = [
        Candidate(silicon(), "a", "files"),
        Candidate(rocksalt_nacl(), "b", "files"),
        Candidate(rotated(silicon()), "c", "files"),
        Candidate(conventional, "d", "files"),
        Candidate(silicon(5.2), "e", "files"),  # 15 % smaller volume: another calculation
    ]
    kept, duplicates = dedupe_within(candidates)
    assert [c.entry for c in kept] == ["a", "b", "e"]
    assert [(d.entry, of.entry) for d, of in duplicates] == [("c", "a"), ("d", "a")]


def test_against_database(launchpad: LaunchPad) -> None:
    si = prototype_structure("diamond", ["Si"], 5.47)
    result = submit_flow(workflow_flow(si, "relax_static_dos", "fast"), launchpad, protocol="fast")
    assert result.submitted
    # the same material, rotated and shifted, is a duplicate; other protocols/workflows are not
    assert is_database_duplicate(
        workflow_flow(rotated(si), "relax_static_dos", "fast"), launchpad, "fast"
    )
    assert not is_database_duplicate(
        workflow_flow(si, "relax_static_dos", "balanced"), launchpad, "balanced"
    )
    assert not is_database_duplicate(workflow_flow(si, "eos", "fast"), launchpad, "fast")
    ge = prototype_structure("diamond", ["Ge"])
    assert not is_database_duplicate(
        workflow_flow(ge, "relax_static_dos", "fast"), launchpad, "fast"
    )
