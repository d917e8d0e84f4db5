"""Elemental references: which a set of materials lacks, and their standard structures.

A formation energy needs, for every element, a one-element material computed with the same
code, protocol and pseudo family. The builder reports the missing ones
(:func:`missing_references`); the campaign layer adds calculations of
:func:`reference_structures` for them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from htflow.db.materials import MaterialDoc

# Box edge for gases and molecular solids (Å): ~7 Å of vacuum between molecule images.
MOLECULE_BOX = 10.0
# Experimental bond lengths (Å) of the diatomic elements; halogens are computed as molecules
# (their molecular crystals bind by dispersion, which PBE misses anyway).
DIATOMIC_BOND = {"H": 0.74, "N": 1.10, "O": 1.21, "F": 1.42, "Cl": 1.99, "Br": 2.28, "I": 2.67}
_BULK_SYMMETRIES = ("fcc", "bcc", "hcp", "diamond", "sc")


def missing_references(materials: Iterable[MaterialDoc | dict[str, Any]]) -> list[str]:
    """Elements of ``materials`` that have no one-element material of the same identity.

    Identity is (code, protocol, pseudo family): a Si reference on the fast protocol does not
    serve a balanced-protocol SiC. Returns sorted element symbols (each once).
    """
    present: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    needed: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for m in materials:
        d = (
            m
            if isinstance(m, dict)
            else m.model_dump(include={"code", "protocol", "pseudo_family", "elements"})
        )
        key = (d["code"], d["protocol"], d["pseudo_family"])
        needed[key].update(d["elements"])
        if len(d["elements"]) == 1:
            present[key].add(d["elements"][0])
    return sorted({el for key, els in needed.items() for el in els - present[key]})


def reference_structures(elements: Iterable[str]) -> dict[str, Structure]:
    """The standard structure of each element, for a reference calculation.

    Solids use ASE's reference states (fcc Al/Cu, bcc Fe/W, hcp Mg/Ti, diamond C/Si/Ge, …) at
    the experimental lattice constant (relax them). H, N, O, F, Cl, Br and I are a diatomic
    molecule in a cubic box of ``MOLECULE_BOX`` Å (run at the Γ point, ionic relaxation only;
    O2 is a triplet: spin-polarised), noble gases a single atom in that box.

    Raises
    ------
    InputError
        For elements whose ground state is not a simple lattice (B, P, S, Ga, Mn, …): supply
        their structure yourself, e.g. from Materials Project.
    """
    from ase.build import bulk
    from ase.data import chemical_symbols, reference_states
    from pymatgen.io.ase import AseAtomsAdaptor

    out: dict[str, Structure] = {}
    unsupported = []
    for el in dict.fromkeys(elements):
        if el not in chemical_symbols:
            raise InputError(f"unknown element {el!r}: use a symbol such as 'Si'")
        state = reference_states[chemical_symbols.index(el)] or {}
        symmetry = state.get("symmetry")
        if el in DIATOMIC_BOND:
            out[el] = _in_box([el, el], DIATOMIC_BOND[el])
        elif symmetry == "atom":
            out[el] = _in_box([el], 0.0)
        elif symmetry in _BULK_SYMMETRIES:
            atoms = bulk(el)
            out[el] = AseAtomsAdaptor.get_structure(atoms)
        else:
            unsupported.append(el)
    if unsupported:
        raise InputError(
            f"no standard reference structure for {', '.join(unsupported)} (complex ground "
            "state): add its structure to the campaign yourself, e.g. from Materials Project"
        )
    return out


def _in_box(species: list[str], bond: float) -> Structure:
    half = bond / 2 / MOLECULE_BOX
    coords = [[0.5, 0.5, 0.5 - half], [0.5, 0.5, 0.5 + half]][: len(species)]
    if len(species) == 1:
        coords = [[0.5, 0.5, 0.5]]
    return Structure(Lattice.cubic(MOLECULE_BOX), species, coords)
