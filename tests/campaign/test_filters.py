"""Filters drop and count; checks (overlaps, missing pseudopotentials) stop the campaign."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from htflow.campaign.candidate import Candidate
from htflow.campaign.filters import (
    apply_filters,
    check_candidate,
    is_charge_neutral,
    min_distance,
)
from htflow.campaign.spec import Filters
from htflow.exceptions import InputError
from tests.campaign.conftest import rocksalt_nacl, silicon

ELEMENTS = {"Si", "Na", "Cl", "Al", "O"}


def cand(structure: Structure, entry: str = "e") -> Candidate:
    return Candidate(structure, entry, "files")


def test_max_sites() -> None:
    big = silicon().make_supercell([2, 1, 1], in_place=False)
    kept, dropped = apply_filters([cand(silicon()), cand(big)], Filters(max_sites=2), ELEMENTS)
    assert len(kept) == 1 and len(dropped["max_sites"]) == 1


def test_min_distance() -> None:
    squeezed = silicon(4.0)  # Si-Si 1.73 Å
    assert min_distance(squeezed) == pytest.approx(4.0 * 3**0.5 / 4)
    kept, dropped = apply_filters(
        [cand(silicon()), cand(squeezed)], Filters(min_distance=2.0), ELEMENTS
    )
    assert [c.structure for c in kept] == [silicon()]
    assert len(dropped["min_distance"]) == 1


def test_min_distance_counts_periodic_images_of_one_atom() -> None:
    tiny = Structure(Lattice.cubic(1.2), ["Al"], [[0, 0, 0]])
    assert min_distance(tiny) == pytest.approx(1.2)


def test_missing_pseudo_error_names_the_entry() -> None:
    gold = Structure(Lattice.cubic(4.0), ["Xe"], [[0, 0, 0]])
    with pytest.raises(InputError, match=r"^sources.files\[3\] x.cif: element\(s\) Xe have no"):
        apply_filters([cand(gold, "sources.files[3] x.cif")], Filters(), ELEMENTS)


def test_missing_pseudo_skip() -> None:
    xe = Structure(Lattice.cubic(4.0), ["Xe"], [[0, 0, 0]])
    kept, dropped = apply_filters(
        [cand(xe), cand(silicon())], Filters(missing_pseudo="skip"), ELEMENTS
    )
    assert len(kept) == 1 and len(dropped["missing_pseudo"]) == 1


def test_charge_neutrality() -> None:
    nacl = rocksalt_nacl()
    na2cl = Structure(Lattice.cubic(5), ["Na", "Na", "Cl"], [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0.5]])
    assert is_charge_neutral(nacl) and is_charge_neutral(silicon())
    assert not is_charge_neutral(na2cl)
    kept, dropped = apply_filters([cand(nacl), cand(na2cl)], Filters(charge_neutral=True), ELEMENTS)
    assert len(kept) == 1 and len(dropped["charge_neutral"]) == 1
    kept, _ = apply_filters([cand(nacl), cand(na2cl)], Filters(), ELEMENTS)
    assert len(kept) == 2


def test_overlapping_atoms_stop_with_the_entry() -> None:
    s = Structure(Lattice.cubic(5), ["Si", "Si"], [[0, 0, 0], [0.02, 0, 0]])
    with pytest.raises(InputError, match=r"^sources.files\[0\] bad.cif: sites \d \(Si\) and \d"):
        check_candidate(cand(s, "sources.files[0] bad.cif"))
