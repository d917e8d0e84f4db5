"""Elemental ground-state guesses for the ML hull (structures only, no model)."""

from __future__ import annotations

import pytest
from pymatgen.core import Element

from htflow.exceptions import InputError
from htflow.ml.references import (
    elemental_reference_polymorphs,
    elemental_reference_structures,
    ground_state_guess,
)


def _spacegroup(symbol: str) -> str:
    return ground_state_guess(symbol).get_space_group_info()[0]


def test_solids_take_their_ground_state_crystal() -> None:
    assert {el: _spacegroup(el) for el in ("Al", "Fe", "Mg", "Si", "C", "Ga", "P", "Se")} == {
        "Al": "Fm-3m",
        "Fe": "Im-3m",
        "Mg": "P6_3/mmc",
        "Si": "Fd-3m",
        "C": "P6_3/mmc",  # graphite
        "Ga": "Cmce",
        "P": "Cmce",  # black phosphorus
        "Se": "P3_121",
    }
    assert len(ground_state_guess("B")) == 12  # α-boron's icosahedra


@pytest.mark.parametrize(("symbol", "bond"), [("H", 0.74), ("N", 1.10), ("O", 1.21), ("Cl", 1.99)])
def test_diatomic_elements_are_molecular_crystals(symbol: str, bond: float) -> None:
    structure = ground_state_guess(symbol)
    assert len(structure) == 8  # four molecules
    assert structure.get_space_group_info()[0] == "Pa-3"
    neighbours = structure.get_neighbors(structure[0], 3.0)
    assert [round(n.nn_distance, 2) for n in neighbours] == [pytest.approx(bond, abs=0.01)]


def test_every_common_element_has_a_guess() -> None:
    symbols = [Element.from_Z(z).symbol for z in range(1, 84)]
    structures = elemental_reference_structures([*symbols, "Si"])
    assert list(structures) == symbols
    assert all({e.symbol for e in s.composition.elements} == {el} for el, s in structures.items())
    assert all(s.is_valid(tol=0.7) for s in structures.values())  # no overlapping atoms


def test_polymorphs_add_close_packed_metals_and_listed_alternatives() -> None:
    polymorphs = elemental_reference_polymorphs(["Al", "C", "Si"])
    assert [s.get_space_group_info()[0] for s in polymorphs["Al"]] == [
        "Fm-3m", "Im-3m", "P6_3/mmc",
    ]  # fmt: skip
    assert [s.get_space_group_info()[0] for s in polymorphs["C"]] == ["P6_3/mmc", "Fd-3m"]
    assert len(polymorphs["Si"]) == 1
    al_fcc, al_bcc, _ = polymorphs["Al"]
    assert al_bcc.volume / len(al_bcc) == pytest.approx(al_fcc.volume / len(al_fcc))


def test_unknown_or_unsupported_elements_are_one_line() -> None:
    with pytest.raises(InputError, match="unknown element 'Xx': use a symbol such as 'Si'"):
        elemental_reference_structures(["Xx"])
    with pytest.raises(InputError, match="no ML reference structure for Pu: add its ground state"):
        ground_state_guess("Pu")
