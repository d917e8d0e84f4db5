"""The standard structure of each element: what an elemental reference calculation starts from.

A formation energy needs every element computed alone with the same code, protocol and
pseudo family (:func:`htflow.builders.references.missing_references` reports the missing
ones); :mod:`htflow.campaign.references` plans these structures' calculations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable

# Box edge for gases and molecular solids (Å): ~7 Å of vacuum between molecule images.
MOLECULE_BOX = 10.0
# Experimental bond lengths (Å) of the diatomic elements; halogens are computed as molecules
# (their molecular crystals bind by dispersion, which PBE misses anyway).
DIATOMIC_BOND = {"H": 0.74, "N": 1.10, "O": 1.21, "F": 1.42, "Cl": 1.99, "Br": 2.28, "I": 2.67}
_BULK_SYMMETRIES = ("fcc", "bcc", "hcp", "diamond", "sc")


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
