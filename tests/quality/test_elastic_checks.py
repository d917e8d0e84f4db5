"""Elastic self-checks on ElasticDocuments made by atomate2 from known tensors."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest

from htflow.quality.elastic import elastic_checks
from htflow.quality.levels import property_quality
from tests.quality.elastic_data import (
    cubic_voigt,
    diamond,
    elastic_document,
    hcp,
    hexagonal_voigt,
    strained_task,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from htflow.quality.schema import SelfCheck

SI = cubic_voigt(166.0, 64.0, 80.0)  # GPa, close to PBE Si


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore")  # pymatgen's symmetry and fitting warnings


def by_name(checks: list[SelfCheck]) -> dict[str, SelfCheck]:
    return {c.name: c for c in checks}


def add_to(
    voigt_strain: float, component: int = 0, kbar: float = 4.0
) -> Callable[[np.ndarray], np.ndarray | None]:
    """An error of ``kbar`` on σ_11 of the cell strained by ``voigt_strain`` along component."""

    def error(strain: np.ndarray) -> np.ndarray | None:
        if abs(strain[component] - voigt_strain) < 1e-9:
            return np.diag([kbar / 10.0, 0.0, 0.0])
        return None

    return error


def test_a_stable_cubic_tensor_passes_everything() -> None:
    checks, settings = elastic_checks(elastic_document(diamond(), SI))
    found = by_name(checks)
    assert set(found) == {
        "born_stability",
        "point_group_symmetry",
        "voigt_symmetric",
        "residual_stress",
        "strain_sign_agreement",
        "strain_linearity",
    }
    assert all(c.passed for c in checks), [c.detail for c in checks if not c.passed]
    assert found["born_stability"].value == pytest.approx(80.0, abs=0.5)  # min(C44, C11-C12)
    assert found["residual_stress"].value == pytest.approx(0.0, abs=0.01)
    assert settings["n_stress_strain_pairs"] == 24
    assert property_quality("elastic", checks, settings).level == "checked"


def test_a_hexagonal_tensor_passes_too() -> None:
    mg = hexagonal_voigt(63.0, 26.0, 21.0, 66.0, 18.0)
    checks, _ = elastic_checks(elastic_document(hcp(), mg))
    found = by_name(checks)
    assert all(c.passed for c in checks), [c.detail for c in checks if not c.passed]
    assert "6/mmm" in found["point_group_symmetry"].detail
    assert found["strain_linearity"].value == pytest.approx(0.0, abs=0.1)


def test_an_error_on_the_largest_positive_strain_breaks_sign_agreement() -> None:
    checks, _ = elastic_checks(elastic_document(diamond(), SI, error=add_to(0.01)))
    found = by_name(checks)
    sign = found["strain_sign_agreement"]
    assert not sign.passed
    # 0.4 GPa on the +1 % cell moves that side's C(1 %) by 40 GPa, and its extrapolation to
    # zero strain, 2 C(0.5 %) - C(1 %), by 40 GPa the other way
    assert "fits extrapolated to zero strain" in sign.detail
    assert sign.value == pytest.approx(41.2, abs=0.2)
    assert "limit 23.9" in sign.detail
    quality = property_quality("elastic", checks)
    assert quality.level == "suspect"
    assert quality.reasons == [sign.detail]


def test_an_error_on_the_smallest_strain_breaks_linearity_and_sign_agreement() -> None:
    checks, _ = elastic_checks(elastic_document(diamond(), SI, error=add_to(0.005)))
    found = by_name(checks)
    linearity = found["strain_linearity"]
    assert not linearity.passed
    assert "205.8 vs 166.0" in linearity.detail
    assert linearity.unit == "GPa"
    assert linearity.value == pytest.approx(39.8, abs=0.2)
    # the extrapolation to zero strain doubles an error at the smaller strain
    assert not found["strain_sign_agreement"].passed
    assert found["strain_sign_agreement"].value > 100.0


def quadratic(d_gpa: float) -> Callable[[np.ndarray], np.ndarray | None]:
    """The anharmonic stress d ε² on σ_11 of every cell strained along 11 (σ = Cε + dε²)."""

    def extra(strain: np.ndarray) -> np.ndarray | None:
        return np.diag([d_gpa * strain[0] ** 2, 0.0, 0.0]) if abs(strain[0]) > 1e-9 else None

    return extra


def test_a_crystal_stiffer_in_compression_is_not_suspect() -> None:
    """SrS at balanced (SSSP) gave one-sided C11 of 116.1, 112.2 (compression) and 104.6,
    101.2 GPa (tension) at 1 and 0.5 %: d ≈ -750 GPa. The two-sided tensor cancels d, and so
    does the sign check once each side is extrapolated to zero strain."""
    from htflow.quality import elastic

    doc = elastic_document(diamond(), SI, error=quadratic(-2000.0))
    found = by_name(elastic_checks(doc)[0])
    assert found["strain_sign_agreement"].passed, found["strain_sign_agreement"].detail
    assert found["strain_linearity"].passed
    # the one-sided fits themselves differ by 2 |d| ε: beyond the limit without extrapolation
    points = elastic._points(doc["fitting_data"])
    plus = elastic._fit([p for p in points if p.value > 0], None)
    minus = elastic._fit([p for p in points if p.value < 0], None)
    assert plus is not None and minus is not None
    assert abs(plus.voigt - minus.voigt).max() > 30.0


def test_a_born_unstable_tensor_fails() -> None:
    checks, _ = elastic_checks(elastic_document(diamond(), cubic_voigt(100.0, 150.0, 80.0)))
    born = by_name(checks)["born_stability"]
    assert not born.passed
    assert born.value == pytest.approx(-50.0, abs=0.5)  # C11 - C12
    assert "mechanically unstable" in born.detail


def test_residual_stress_of_the_unstrained_cell() -> None:
    stressed = elastic_document(diamond(), SI, eq_stress=-2.0 * np.eye(3))
    residual = by_name(elastic_checks(stressed)[0])["residual_stress"]
    assert not residual.passed
    assert residual.value == pytest.approx(2.0)
    assert residual.detail.startswith("equilibrium stress of the unstrained cell")
    # without eq_stress the intercept of the ± pairs finds the same stress
    stressed["eq_stress"] = None
    residual = by_name(elastic_checks(stressed)[0])["residual_stress"]
    assert residual.value == pytest.approx(2.0, abs=0.01)
    assert "intercept" in residual.detail


def test_symmetry_against_the_point_group_and_voigt_symmetry() -> None:
    doc = elastic_document(diamond(), SI)
    broken = copy.deepcopy(doc)
    broken["elastic_tensor"]["raw"][0][3] = 20.0  # C14: forbidden in m-3m
    found = by_name(elastic_checks(broken)[0])
    assert not found["point_group_symmetry"].passed
    assert "m-3m" in found["point_group_symmetry"].detail
    assert not found["voigt_symmetric"].passed
    assert found["voigt_symmetric"].value == pytest.approx(100 * 20.0 / 166.0, rel=1e-3)


def test_strained_cells_sampling() -> None:
    doc = elastic_document(diamond(), SI)
    coarse = [strained_task((4, 4, 4), 2, is_metal=False) for _ in range(5)]
    coarse.append(strained_task((5, 4, 4), 2, is_metal=False))
    found = by_name(elastic_checks(doc, coarse)[0])
    density = found["elastic_kpoint_density"]
    from htflow.qe.sets.sampling import load_property_needs

    need = load_property_needs("elastic").insulator.kpoints_per_atom
    assert density.passed is (need <= 128)
    assert density.value == 128 and density.limit == need
    assert "4×4×4 mesh (128 k-points/atom)" in density.detail
    mesh = found["strained_cells_one_mesh"]
    assert not mesh.passed
    assert "4×4×4: 5, 5×4×4: 1" in mesh.detail
    dense = load_property_needs("elastic").metal.kpoints_per_atom
    n = int(np.ceil((dense / 2) ** (1 / 3)))
    fine = [strained_task((n, n, n), 2, is_metal=True) for _ in range(6)]
    found = by_name(elastic_checks(doc, fine)[0])
    assert found["elastic_kpoint_density"].passed
    assert found["strained_cells_one_mesh"].passed
