"""Prototype crystals × element substitutions, enumerated combinatorially.

Cells are primitive (fewest atoms). Without an explicit lattice constant, it is estimated
from tabulated radii: metallic radii for the close-packed elementals, covalent radii
(Cordero 2008, from ASE) for tetrahedral bonding, Shannon ionic radii of the guessed
oxidation states for ionic prototypes. The estimate is only a starting point for the
vc-relax every workflow begins with; a few percent off costs a few more ionic steps.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition, Element, Lattice, Species, Structure

from htflow.campaign.candidate import Candidate
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from htflow.campaign.spec import PrototypeSource

# Site labels of each prototype, in the order of the formula.
PROTOTYPE_SITES: dict[str, tuple[str, ...]] = {
    "rocksalt": ("A", "B"),
    "zincblende": ("A", "B"),
    "wurtzite": ("A", "B"),
    "cesium_chloride": ("A", "B"),
    "perovskite": ("A", "B", "X"),
    "fcc": ("A",),
    "bcc": ("A",),
    "diamond": ("A",),
    "hcp": ("A",),
    "sc": ("A",),
}
# Sites with a default element: perovskite means ABO3 unless X is given.
DEFAULT_SITES = {"perovskite": {"X": ["O"]}}
IDEAL_C_OVER_A = math.sqrt(8 / 3)
_COORDS_QUARTER: Any = [[0, 0, 0], [0.25, 0.25, 0.25]]
_COORDS_HALF: Any = [[0, 0, 0], [0.5, 0.5, 0.5]]


def substitutions(entry: PrototypeSource, index: int) -> list[Candidate]:
    """Every combination of the entry's elements on its prototype's sites.

    Combinations that put one element on two sites are skipped: they are not that prototype.
    """
    labels = PROTOTYPE_SITES[entry.prototype]
    sites = {**DEFAULT_SITES.get(entry.prototype, {}), **entry.sites}
    unknown = sorted(set(sites) - set(labels))
    missing = [label for label in labels if label not in sites]
    if unknown or missing:
        raise InputError(
            f"sources.prototypes[{index}] {entry.prototype}: sites must be "
            f"{', '.join(labels)} (unknown: {unknown or 'none'}, missing: {missing or 'none'})"
        )
    out = []
    for combo in itertools.product(*(sites[label] for label in labels)):
        if len(set(combo)) < len(combo):
            continue
        name = " ".join(f"{label}={el}" for label, el in zip(labels, combo, strict=True))
        structure = prototype_structure(entry.prototype, list(combo), entry.lattice_constant)
        entry_name = f"sources.prototypes[{index}] {entry.prototype} {name}"
        out.append(Candidate(structure, entry_name, "prototypes"))
    return out


def prototype_structure(
    prototype: str, elements: list[str], lattice_constant: float | None = None
) -> Structure:
    """The primitive cell of ``prototype`` with ``elements`` on its sites (in site order).

    Parameters
    ----------
    prototype
        A key of :data:`PROTOTYPE_SITES`.
    elements
        One element symbol per site label.
    lattice_constant
        Conventional cubic a, or hexagonal a (Å); None estimates it from radii.
    """
    a = lattice_constant or estimate_lattice_constant(prototype, elements)
    builder = _BUILDERS[prototype]
    return builder(a, elements)


def estimate_lattice_constant(prototype: str, elements: list[str]) -> float:
    """Conventional lattice constant a (Å) from tabulated radii (see the module docstring)."""
    if prototype in ("fcc", "bcc", "hcp", "sc"):
        r = _metallic_radius(elements[0])
        return {
            "fcc": 2 * math.sqrt(2) * r,
            "bcc": 4 * r / math.sqrt(3),
            "hcp": 2 * r,
            "sc": 2 * r,
        }[prototype]
    if prototype == "diamond":
        return 4 * 2 * _covalent_radius(elements[0]) / math.sqrt(3)
    if prototype in ("zincblende", "wurtzite"):
        bond = _covalent_radius(elements[0]) + _covalent_radius(elements[1])
        return 4 * bond / math.sqrt(3) if prototype == "zincblende" else bond * IDEAL_C_OVER_A
    radii = _ionic_radii(elements)
    if prototype == "rocksalt":
        return 2 * (radii[0] + radii[1])
    if prototype == "cesium_chloride":
        return 2 * (radii[0] + radii[1]) / math.sqrt(3)
    # perovskite ABX3: B-X-B along the cube edge
    return 2 * (radii[1] + radii[2])


def _metallic_radius(symbol: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        el = Element(symbol)
        r = el.metallic_radius or el.atomic_radius or _covalent_radius(symbol)
    return float(r)


def _covalent_radius(symbol: str) -> float:
    from ase.data import atomic_numbers, covalent_radii

    return float(covalent_radii[atomic_numbers[symbol]])


def _ionic_radii(elements: list[str]) -> list[float]:
    """Shannon radii of the first charge-neutral oxidation-state guess; covalent otherwise."""
    counts = {"perovskite": (1, 1, 3)}.get("perovskite" if len(elements) == 3 else "", (1, 1))
    composition = Composition(dict(zip(elements, counts, strict=True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guesses = composition.oxi_state_guesses(max_sites=-1)
        radii = []
        for symbol in elements:
            radius = None
            if guesses:
                try:
                    radius = Species(symbol, guesses[0][symbol]).ionic_radius
                except (ValueError, KeyError):
                    radius = None
            radii.append(float(radius) if radius else _covalent_radius(symbol))
    return radii


def _fcc_lattice(a: float) -> Lattice:
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def _fcc(a: float, el: list[str]) -> Structure:
    return Structure(_fcc_lattice(a), el, [[0, 0, 0]])


def _bcc(a: float, el: list[str]) -> Structure:
    h = a / 2
    return Structure(Lattice([[-h, h, h], [h, -h, h], [h, h, -h]]), el, [[0, 0, 0]])


def _sc(a: float, el: list[str]) -> Structure:
    return Structure(Lattice.cubic(a), el, [[0, 0, 0]])


def _diamond(a: float, el: list[str]) -> Structure:
    return Structure(_fcc_lattice(a), el * 2, _COORDS_QUARTER)


def _zincblende(a: float, el: list[str]) -> Structure:
    return Structure(_fcc_lattice(a), el, _COORDS_QUARTER)


def _rocksalt(a: float, el: list[str]) -> Structure:
    return Structure(_fcc_lattice(a), el, _COORDS_HALF)


def _cesium_chloride(a: float, el: list[str]) -> Structure:
    return Structure(Lattice.cubic(a), el, _COORDS_HALF)


def _hcp(a: float, el: list[str]) -> Structure:
    lattice = Lattice.hexagonal(a, a * IDEAL_C_OVER_A)
    coords: Any = [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return Structure(lattice, el * 2, coords)


def _wurtzite(a: float, el: list[str]) -> Structure:
    lattice = Lattice.hexagonal(a, a * IDEAL_C_OVER_A)
    u = 0.375
    coords: Any = [
        [1 / 3, 2 / 3, 0],
        [2 / 3, 1 / 3, 0.5],
        [1 / 3, 2 / 3, u],
        [2 / 3, 1 / 3, 0.5 + u],
    ]
    return Structure(lattice, [el[0], el[0], el[1], el[1]], coords)


def _perovskite(a: float, el: list[str]) -> Structure:
    coords: Any = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(a), [el[0], el[1], el[2], el[2], el[2]], coords)


_BUILDERS = {
    "rocksalt": _rocksalt,
    "zincblende": _zincblende,
    "wurtzite": _wurtzite,
    "cesium_chloride": _cesium_chloride,
    "perovskite": _perovskite,
    "fcc": _fcc,
    "bcc": _bcc,
    "diamond": _diamond,
    "hcp": _hcp,
    "sc": _sc,
}
