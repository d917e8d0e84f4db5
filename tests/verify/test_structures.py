"""Primitive ACWF cells: exact volumes, site counts and space groups; system names."""

from __future__ import annotations

import pytest
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from htflow.exceptions import InputError
from htflow.verify.reference import (
    get_reference,
    parse_reference,
    parse_system,
    reference_systems,
)
from htflow.verify.structures import build_structure


@pytest.mark.parametrize(
    ("name", "nsites", "space_group", "conventional_atoms"),
    [
        ("Al/FCC", 1, 225, 4),
        ("Na/BCC", 1, 229, 2),
        ("Po/SC", 1, 221, 1),
        ("Si/Diamond", 2, 227, 8),
        ("MgO/XO", 2, 225, 8),
    ],
)
def test_cells_have_the_exact_volume(
    name: str, nsites: int, space_group: int, conventional_atoms: int
) -> None:
    v0 = 17.123456789
    structure = build_structure(parse_system(name), v0)
    assert len(structure) == nsites
    assert structure.volume / nsites == pytest.approx(v0, rel=1e-13)
    assert SpacegroupAnalyzer(structure).get_space_group_number() == space_group
    conventional = SpacegroupAnalyzer(structure).get_conventional_standard_structure()
    assert conventional.lattice.a == pytest.approx((v0 * conventional_atoms) ** (1 / 3))


def test_silicon_lattice_parameter_from_the_reference_volume() -> None:
    ref = get_reference(parse_system("Si/Diamond"))
    structure = build_structure(ref.system, ref.reference.v0)
    # a = (8 V0)^(1/3) = 5.4699 Å; the primitive vectors are a/√2 long
    assert structure.lattice.a * 2**0.5 == pytest.approx(5.46992, abs=1e-4)
    assert structure.composition.reduced_formula == "Si"


def test_every_shipped_system_builds() -> None:
    systems = reference_systems()
    assert set(systems) == {
        "Si/Diamond", "C/Diamond", "Al/FCC", "Na/BCC", "Ag/FCC", "Mo/BCC", "MgO/XO",
    }  # fmt: skip
    for ref in systems.values():
        structure = build_structure(ref.system, ref.reference.v0)
        assert structure.volume / len(structure) == pytest.approx(ref.reference.v0, rel=1e-13)
    assert "doi:10.1038/s42254-023-00655-3" in systems["Si/Diamond"].source


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Si/Diamond", "Si/Diamond"),
        ("Si-X/Diamond", "Si/Diamond"),
        ("al/fcc", "Al/FCC"),
        ("MgO", "MgO/XO"),
        ("Mg-XO", "MgO/XO"),
        ("MgO/XO", "MgO/XO"),
        ("Mg/XO", "MgO/XO"),
        (" Na/bcc ", "Na/BCC"),
    ],
)
def test_system_names(text: str, label: str) -> None:
    assert parse_system(text).label == label


@pytest.mark.parametrize("text", ["Si", "Si/HCP", "Xx/FCC", "Si/Diamond/2", ""])
def test_bad_system_names(text: str) -> None:
    with pytest.raises(InputError):
        parse_system(text)


def test_reference_from_the_table_or_given() -> None:
    with pytest.raises(InputError, match="--reference"):
        get_reference(parse_system("Cu/FCC"))
    given = parse_reference("11.95,141,4.9")
    ref = get_reference(parse_system("Cu/FCC"), given)
    assert (ref.reference.v0, ref.reference.b0, ref.reference.b1) == (11.95, 141.0, 4.9)
    for bad in ("1,2", "a,b,c", "-1,100,4", "10,0,4"):
        with pytest.raises(InputError):
            parse_reference(bad)
