"""The candidate pool of benchmarks/active_learning.py: 45 binary AB prototypes.

The same pool as benchmarks/funnel.py's screen (issue 15, ``_funnel_cases.pool``), built the
same way (htflow's ``prototype_structure``, lattice constants estimated from radii, as a
campaign would), so a finished relax → static run of that benchmark is the same calculation
as this one's and ``--reuse-runs`` can read it instead of running pw.x again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.campaign.sources.prototypes import prototype_structure

if TYPE_CHECKING:
    from pymatgen.core import Structure

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
SHORT = {"rocksalt": "rs", "cesium_chloride": "CsCl", "zincblende": "zb", "wurtzite": "wz"}


def pool() -> dict[str, Structure]:
    """The candidates by name (``NaCl-rs``, ``MgO-CsCl`` …), primitive cells."""
    return {
        f"{a}{b}-{SHORT[prototype]}": prototype_structure(prototype, [a, b])
        for (a, b), prototypes in POOL_SYSTEMS
        for prototype in prototypes
    }
