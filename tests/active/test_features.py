"""Composition and structure features: deterministic, finite, and physically sensible."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from htflow.active.features import (
    ELEMENT_PROPERTIES,
    FEATURE_NAMES,
    element_table,
    featurize,
)
from htflow.campaign.sources.prototypes import prototype_structure
from htflow.exceptions import InputError


def _column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def _pool() -> list[Structure]:
    return [
        prototype_structure("rocksalt", ["Na", "Cl"]),
        prototype_structure("zincblende", ["Ga", "As"]),
        prototype_structure("wurtzite", ["Zn", "O"]),
        prototype_structure("cesium_chloride", ["Cu", "Zn"]),
        prototype_structure("fcc", ["Ar"]),
    ]


def test_shape_names_and_determinism() -> None:
    first = featurize(_pool())
    second = featurize(list(reversed(_pool())))[::-1]
    assert first.shape == (5, len(FEATURE_NAMES))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert np.isfinite(first).all()  # Ar has no Pauling electronegativity: filled
    np.testing.assert_array_equal(first, second)
    assert featurize([]).shape == (0, len(FEATURE_NAMES))


def test_composition_statistics() -> None:
    nacl, gaas = featurize(_pool()[:2])
    assert nacl[_column("mean_Z")] == pytest.approx((11 + 17) / 2)
    assert nacl[_column("min_Z")] == 11
    assert nacl[_column("max_Z")] == 17
    assert nacl[_column("range_Z")] == 6
    assert nacl[_column("deviation_Z")] == pytest.approx(3.0)
    assert nacl[_column("range_electronegativity")] == pytest.approx(3.16 - 0.93)
    # Ga: [Ar] 3d10 4s2 4p1; As: [Ar] 3d10 4s2 4p3
    assert gaas[_column("mean_d_valence")] == 10
    assert gaas[_column("mean_p_valence")] == 2
    assert gaas[_column("mean_valence_electrons")] == 14  # 13 and 15


def test_fractions_weight_the_mean() -> None:
    mgf2 = Structure(Lattice.cubic(5.0), ["Mg", "F", "F"], [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]])
    row = featurize([mgf2])[0]
    assert row[_column("mean_Z")] == pytest.approx((12 + 2 * 9) / 3)


def test_structure_features() -> None:
    nacl = prototype_structure("rocksalt", ["Na", "Cl"], lattice_constant=5.64)
    row = featurize([nacl])[0]
    assert row[_column("nsites")] == 2
    assert row[_column("volume_per_atom")] == pytest.approx(5.64**3 / 8)
    assert row[_column("density")] == pytest.approx(nacl.density)
    assert row[_column("min_distance")] == pytest.approx(5.64 / 2)
    assert 0 < row[_column("packing_fraction")] < 1
    coordination = [
        featurize([prototype_structure(p, ["Zn", "O"])])[0][_column("mean_coordination")]
        for p in ("zincblende", "wurtzite", "rocksalt", "cesium_chloride")
    ]
    assert coordination == [4, 4, 6, 8]


def test_missing_values_are_filled_with_the_mean_over_elements() -> None:
    table = element_table()
    assert np.isfinite(table).all()
    x = ELEMENT_PROPERTIES.index("electronegativity")
    helium = table[1, x]
    known = [v for z, v in enumerate(table[:, x], start=1) if z not in (2, 10, 18)]
    assert min(known) < helium < max(known)


def test_disordered_structures_are_refused() -> None:
    alloy = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(InputError, match="disordered"):
        featurize([alloy])
