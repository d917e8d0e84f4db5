"""Composition and structure features of candidates, for the surrogate: deterministic, fast,
no network.

Composition: for each element property (pymatgen's ``Element``), the fraction-weighted
mean, the fraction-weighted mean absolute deviation, the minimum, maximum and range over
the elements of the formula (Magpie's statistics, Ward et al. 2016). Valence counts are the
electrons outside the preceding noble-gas core, per orbital type (Ga: s 2, p 1, d 10).
A property pymatgen lacks for an element (Pauling electronegativity of He, a radius) is
replaced by its mean over the elements that have it, so every feature is finite.
Structure: volume per atom (Å³/atom), density (g/cm³), number of sites, packing fraction
(spheres of the atomic radii over the cell volume), the shortest interatomic distance (Å)
and the mean coordination number (neighbours within 1.1 × each site's shortest distance,
pymatgen's ``MinimumDistanceNN``: 4 zincblende, 6 rocksalt, 8 CsCl).
"""

from __future__ import annotations

import re
import warnings
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.analysis.local_env import MinimumDistanceNN
from pymatgen.core import Element

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pymatgen.core import Structure

ELEMENT_PROPERTIES = (
    "Z",
    "group",
    "row",
    "electronegativity",
    "atomic_radius",
    "mendeleev_number",
    "atomic_mass",
    "s_valence",
    "p_valence",
    "d_valence",
    "f_valence",
    "valence_electrons",
)
STATISTICS = ("mean", "deviation", "min", "max", "range")
STRUCTURE_FEATURES = (
    "volume_per_atom",
    "density",
    "nsites",
    "packing_fraction",
    "min_distance",
    "mean_coordination",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{stat}_{prop}" for prop in ELEMENT_PROPERTIES for stat in STATISTICS),
    *STRUCTURE_FEATURES,
)
MAX_Z = 103
_ORBITAL = re.compile(r"(\d+)([spdf])(\d+)")


def _valence(element: Element) -> tuple[float, float, float, float]:
    """Electrons outside the noble-gas core per orbital type (s, p, d, f)."""
    counts = dict.fromkeys("spdf", 0.0)
    for _n, orbital, electrons in _ORBITAL.findall(element.electronic_structure):
        counts[orbital] += float(electrons)
    return counts["s"], counts["p"], counts["d"], counts["f"]


def _raw_properties(element: Element) -> list[float]:
    radius = element.atomic_radius or element.atomic_radius_calculated
    s, p, d, f = _valence(element)
    return [
        float(element.Z),
        float(element.group),
        float(element.row),
        float(element.X),  # NaN where pymatgen has no Pauling value
        float(radius) if radius is not None else np.nan,
        float(element.mendeleev_no) if element.mendeleev_no is not None else np.nan,
        float(element.atomic_mass),
        s,
        p,
        d,
        f,
        s + p + d + f,
    ]


@cache
def element_table() -> np.ndarray:
    """Properties (columns: ELEMENT_PROPERTIES) of Z = 1 … 103 (row Z − 1); gaps filled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every missing value
        table = np.array([_raw_properties(Element.from_Z(z)) for z in range(1, MAX_Z + 1)])
    column_means = np.nanmean(table, axis=0)
    missing = np.isnan(table)
    table[missing] = np.take(column_means, np.nonzero(missing)[1])
    table.setflags(write=False)
    return table


def composition_features(structure: Structure) -> np.ndarray:
    """The composition part of :func:`featurize` for one structure."""
    amounts = structure.composition.element_composition.get_el_amt_dict()
    zs = []
    for symbol in amounts:
        z = Element(symbol).Z
        if z > MAX_Z:
            raise InputError(f"element {symbol} (Z={z}) has no features: keep Z ≤ {MAX_Z}")
        zs.append(z)
    fractions = np.array(list(amounts.values()), dtype=float)
    fractions /= fractions.sum()
    values = element_table()[np.array(zs) - 1]  # (elements, properties)
    mean = fractions @ values
    deviation = fractions @ np.abs(values - mean)
    low, high = values.min(axis=0), values.max(axis=0)
    stats = np.stack([mean, deviation, low, high, high - low], axis=1)  # (properties, stats)
    return stats.ravel()


def structure_features(structure: Structure) -> np.ndarray:
    """The structure part of :func:`featurize` for one structure."""
    nsites = len(structure)
    volume_per_atom = structure.volume / nsites
    radii = element_table()[:, ELEMENT_PROPERTIES.index("atomic_radius")]
    spheres = sum(4 / 3 * np.pi * radii[site.specie.Z - 1] ** 3 for site in structure)
    cutoff = 3.0 * volume_per_atom ** (1 / 3)
    distances = structure.get_neighbor_list(cutoff)[3]
    distances = distances[distances > 1e-8]
    shortest = float(distances.min()) if distances.size else cutoff
    neighbours = MinimumDistanceNN(tol=0.1, cutoff=cutoff)
    coordination = np.mean([neighbours.get_cn(structure, i) for i in range(nsites)])
    return np.array(
        [
            volume_per_atom,
            structure.density,
            nsites,
            spheres / structure.volume,
            shortest,
            coordination,
        ]
    )


def featurize(structures: Sequence[Structure]) -> np.ndarray:
    """Features of each structure, shape (len(structures), len(FEATURE_NAMES)).

    Units: element properties in their own (Å for radii, amu for masses, counts for valence
    electrons); structure features as the module docstring says.

    Raises
    ------
    InputError
        A disordered site (partial occupancies) or an element beyond Z = 103.
    """
    rows = []
    for structure in structures:
        if not structure.is_ordered:
            raise InputError(
                f"{structure.composition.reduced_formula} is disordered: order it before "
                "an active campaign (one species per site)"
            )
        rows.append(
            np.concatenate([composition_features(structure), structure_features(structure)])
        )
    if not rows:
        return np.empty((0, len(FEATURE_NAMES)))
    return np.vstack(rows)
