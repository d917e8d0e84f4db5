"""Primitive cells of the ACWF prototypes with an exact volume per atom.

The conventional cubic lattice parameter follows from the volume: a³ = V0 × (atoms in the
conventional cell), then the primitive vectors are the usual fractions of a. FCC, Diamond and
rocksalt use the FCC primitive vectors a/2 (0,1,1), (1,0,1), (1,1,0); BCC uses
a/2 (−1,1,1), (1,−1,1), (1,1,−1); SC is the cube itself.
"""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from htflow.exceptions import InputError
from htflow.verify.reference import SystemId

# atoms in the conventional cubic cell, per configuration
CONVENTIONAL_ATOMS = {"FCC": 4, "BCC": 2, "SC": 1, "Diamond": 8, "XO": 8}


def _fcc_vectors(a: float) -> list[list[float]]:
    h = a / 2.0
    return [[0.0, h, h], [h, 0.0, h], [h, h, 0.0]]


def build_structure(system: SystemId, volume_per_atom: float) -> Structure:
    """The primitive cell of ``system`` at ``volume_per_atom`` (Å³/atom), exactly.

    Raises
    ------
    InputError
        For a non-positive volume or an unknown configuration.
    """
    if volume_per_atom <= 0:
        raise InputError(f"volume per atom must be positive (got {volume_per_atom} Å³)")
    configuration = system.configuration
    if configuration not in CONVENTIONAL_ATOMS:
        raise InputError(
            f"unknown configuration {configuration!r}: one of {', '.join(CONVENTIONAL_ATOMS)}"
        )
    a = (volume_per_atom * CONVENTIONAL_ATOMS[configuration]) ** (1.0 / 3.0)
    el = system.element
    if configuration == "FCC":
        return Structure(Lattice(_fcc_vectors(a)), [el], [[0, 0, 0]])
    if configuration == "BCC":
        h = a / 2.0
        return Structure(Lattice([[-h, h, h], [h, -h, h], [h, h, -h]]), [el], [[0, 0, 0]])
    if configuration == "SC":
        return Structure(Lattice.cubic(a), [el], [[0, 0, 0]])
    if configuration == "Diamond":
        return Structure(Lattice(_fcc_vectors(a)), [el, el], [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])
    # XO: rocksalt, cation at the origin and O at the body centre of the primitive cell
    species: list[str] = [el, "O"]
    return Structure(Lattice(_fcc_vectors(a)), species, [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
