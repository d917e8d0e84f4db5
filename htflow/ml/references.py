"""Elemental reference structures for the ML hull: a ground-state guess per element.

The ML relaxation relaxes each guess, so only the crystal structure has to be right, not
the lattice constant. Where it comes from:

- ``elemental_structures.yaml`` (next to this module) for the elements whose ground state
  ASE cannot build or builds poorly: molecular crystals for H, N, O, F, Cl, Br and I (the
  α-N2 arrangement; a molecule in a box cannot go through a cell relaxation), graphite,
  α-B, black P, α-Ga, α-Mn, trigonal Se and Te, a chain stand-in for α-S8, α-Sn, α-U...;
- ASE's reference states (``ase.data.reference_states``: fcc Al, bcc Fe, hcp Mg, A7 Bi...)
  at the experimental lattice constant for every other element.

A reference that is too high in energy can only make compounds look more stable, so a
poor guess errs on the side of keeping candidates. :func:`elemental_reference_polymorphs`
adds cheap alternatives (fcc, bcc and hcp for metals, and the YAML's ``alternatives``); the
hull keeps the lowest of an element's references.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import yaml
from pymatgen.core import Element, Lattice, Structure

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable

# ASE reference states ase.build.bulk builds without an atomic basis we do not have.
_ASE_SYMMETRIES = ("fcc", "bcc", "hcp", "diamond", "sc", "bct", "rhombohedral")
# Sites closer than this (Å) after the space-group expansion are one site.
_MERGE_TOLERANCE = 0.01


@cache
def _table() -> dict[str, dict[str, Any]]:
    text = files("htflow.ml").joinpath("elemental_structures.yaml").read_text()
    table: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return table


def _from_entry(entry: dict[str, Any]) -> Structure:
    species = [el for el, coords in entry["sites"].items() for _ in coords]
    coords = [c for cs in entry["sites"].values() for c in cs]
    lattice = Lattice.from_parameters(*entry["lattice"])
    structure = Structure.from_spacegroup(entry["spacegroup"], lattice, species, coords)
    structure.merge_sites(tol=_MERGE_TOLERANCE, mode="delete")
    return structure.get_primitive_structure()


def _from_ase(symbol: str) -> Structure | None:
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states
    from pymatgen.io.ase import AseAtomsAdaptor

    state = reference_states[atomic_numbers[symbol]] or {}
    if state.get("symmetry") not in _ASE_SYMMETRIES or state.get("basis", ()) is None:
        return None
    return AseAtomsAdaptor.get_structure(bulk(symbol))


def _check_symbol(symbol: str) -> None:
    if not Element.is_valid_symbol(symbol):
        raise InputError(f"unknown element {symbol!r}: use a symbol such as 'Si'")


def ground_state_guess(symbol: str) -> Structure:
    """The ground-state guess for one element (raises InputError when there is none)."""
    _check_symbol(symbol)
    if symbol in _table():
        return _from_entry(_table()[symbol])
    structure = _from_ase(symbol)
    if structure is None:
        raise InputError(
            f"no ML reference structure for {symbol}: add its ground state to "
            "htflow/ml/elemental_structures.yaml (e.g. from Materials Project)"
        )
    return structure


def elemental_reference_structures(elements: Iterable[str]) -> dict[str, Structure]:
    """A ground-state guess per element, for the ML hull (relax them with the model)."""
    return {el: ground_state_guess(el) for el in dict.fromkeys(elements)}


def _close_packed(symbol: str, volume_per_atom: float) -> list[Structure]:
    """fcc, bcc and hcp (ideal c/a) of one element at the given atomic volume (Å³)."""
    fcc = Lattice.cubic((4 * volume_per_atom) ** (1 / 3))
    bcc = Lattice.cubic((2 * volume_per_atom) ** (1 / 3))
    # hcp with ideal c/a: V = (√3/2) a² c = √2 a³ for two atoms.
    a = (2 * volume_per_atom / 2**0.5) ** (1 / 3)
    hcp = Lattice.hexagonal(a, a * (8 / 3) ** 0.5)
    return [
        Structure.from_spacegroup("Fm-3m", fcc, [symbol], [[0, 0, 0]]).get_primitive_structure(),
        Structure.from_spacegroup("Im-3m", bcc, [symbol], [[0, 0, 0]]).get_primitive_structure(),
        Structure(hcp, [symbol, symbol], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]),
    ]


def elemental_reference_polymorphs(elements: Iterable[str]) -> dict[str, list[Structure]]:
    """Structures worth relaxing per element: the ground-state guess first, then alternatives.

    Metals get fcc, bcc and hcp at the guess's atomic volume (those the guess is not);
    others the YAML's ``alternatives``. Relax them all and give each to the hull as an
    elemental reference: the lowest one counts.
    """
    out: dict[str, list[Structure]] = {}
    for el in dict.fromkeys(elements):
        guess = ground_state_guess(el)
        structures = [guess]
        structures += [_from_entry(e) for e in _table().get(el, {}).get("alternatives", [])]
        if Element(el).is_metal:
            volume = guess.volume / len(guess)
            structures += [
                s
                for s in _close_packed(el, volume)
                if not any(s.matches(other) for other in structures)
            ]
        out[el] = structures
    return out
