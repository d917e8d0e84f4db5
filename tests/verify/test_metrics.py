"""The ACWF metrics against hand-derived values and an independent quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.analysis.eos import BirchMurnaghan
from scipy.integrate import quad

from htflow.verify.metrics import (
    EV_PER_A3_TO_GPA,
    EosParams,
    birch_murnaghan,
    compare,
    delta,
    epsilon,
    nu,
    verdict,
)
from htflow.verify.reference import reference_systems

SI = EosParams(v0=20.457473454747568, b0=88.51131819293239, b1=4.31178461988603)


def _pymatgen_energy(volume: float, p: EosParams) -> float:
    """Birch–Murnaghan from pymatgen's own implementation (E0 = 0), an independent formula."""
    eos = BirchMurnaghan([p.v0], [0.0])
    return float(eos._func(volume, (0.0, p.b0 / EV_PER_A3_TO_GPA, p.b1, p.v0)))


def _quad_metrics(a: EosParams, b: EosParams) -> tuple[float, float]:
    """(ε, Δ in meV/atom) by adaptive quadrature on pymatgen's curves."""
    vm = (a.v0 + b.v0) / 2
    lo, hi = 0.94 * vm, 1.06 * vm
    width = hi - lo

    def mean(f) -> float:
        return quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] / width

    ea = lambda v: _pymatgen_energy(v, a)  # noqa: E731
    eb = lambda v: _pymatgen_energy(v, b)  # noqa: E731
    msd = mean(lambda v: (ea(v) - eb(v)) ** 2)
    var_a = mean(lambda v: ea(v) ** 2) - mean(ea) ** 2
    var_b = mean(lambda v: eb(v) ** 2) - mean(eb) ** 2
    return math.sqrt(msd / math.sqrt(var_a * var_b)), 1000 * math.sqrt(msd)


def test_birch_murnaghan_matches_pymatgen_and_has_its_minimum_at_v0() -> None:
    volumes = np.linspace(18, 23, 11)
    ours = birch_murnaghan(volumes, SI)
    theirs = [_pymatgen_energy(v, SI) for v in volumes]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert birch_murnaghan(np.array([SI.v0]), SI)[0] == 0.0
    assert (ours >= 0).all()


def test_identical_curves_give_zero() -> None:
    m = compare(SI, SI)
    assert m.epsilon == 0.0
    assert m.nu == 0.0
    assert m.delta == 0.0
    assert m.verdict == "excellent"


@pytest.mark.parametrize("shift", [0.001, 0.01, -0.02])
def test_nu_of_a_pure_v0_shift(shift: float) -> None:
    # ν = 100 |2 ΔV / (Va + Vb)| when only V0 differs (weight 1)
    b = SI.model_copy(update={"v0": SI.v0 * (1 + shift)})
    expected = 100 * abs(2 * (b.v0 - SI.v0) / (b.v0 + SI.v0))
    assert nu(SI, b) == pytest.approx(expected, rel=1e-12)
    assert nu(b, SI) == pytest.approx(expected, rel=1e-12)


def test_nu_of_b0_and_b1_shifts_uses_weights_1_20_and_1_400() -> None:
    b = SI.model_copy(update={"b0": SI.b0 * 1.1, "b1": SI.b1 + 1})
    rel_b0 = 2 * (b.b0 - SI.b0) / (b.b0 + SI.b0)
    rel_b1 = 2 * (b.b1 - SI.b1) / (b.b1 + SI.b1)
    expected = 100 * math.hypot(rel_b0 / 20, rel_b1 / 400)
    assert nu(SI, b) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("k", [1.02, 0.9, 1.5])
def test_scaled_b0_gives_the_closed_form(k: float) -> None:
    # Same V0 and B1, B0 scaled by k: E_b = k E_a exactly, so
    # Δ² = (1-k)² <E_a²>  and  ε² = (1-k)² <E_a²> / (k Var(E_a)).
    b = SI.model_copy(update={"b0": SI.b0 * k})
    volumes = np.linspace(0.94 * SI.v0, 1.06 * SI.v0, 400001)
    ea = birch_murnaghan(volumes, SI)  # a dense plain average, not the module's Simpson rule
    mean_sq, var = float(np.mean(ea**2)), float(np.var(ea))
    assert delta(b, SI) == pytest.approx(1000 * abs(1 - k) * math.sqrt(mean_sq), rel=1e-4)
    assert epsilon(b, SI) == pytest.approx(abs(1 - k) * math.sqrt(mean_sq / (k * var)), rel=1e-4)


@pytest.mark.parametrize(
    "b",
    [
        EosParams(v0=20.6, b0=87.0, b1=4.5),
        EosParams(v0=20.3, b0=95.0, b1=3.9),
        EosParams(v0=20.528, b0=88.2, b1=4.3),
    ],
)
def test_epsilon_and_delta_agree_with_adaptive_quadrature(b: EosParams) -> None:
    eps, dlt = _quad_metrics(SI, b)
    assert epsilon(SI, b) == pytest.approx(eps, rel=1e-8)
    assert delta(SI, b) == pytest.approx(dlt, rel=1e-8)
    assert epsilon(b, SI) == pytest.approx(eps, rel=1e-8)  # symmetric


def test_published_values_of_the_study_are_reproduced() -> None:
    # Bosoni et al. (2024) quote ε 0.004 for Si and 0.053 for Al (QE, SSSP-1.3-precision).
    systems = reference_systems()
    for label, quoted in (("Si/Diamond", 0.004), ("Al/FCC", 0.053)):
        ref = systems[label]
        sssp = ref.other_codes["QE-SSSP-1.3-precision"]
        assert round(epsilon(sssp, ref.reference), 3) == quoted


def test_verdict_thresholds() -> None:
    assert verdict(0.059, 0.099) == "excellent"
    assert verdict(0.059, 0.10) == "good"  # both metrics must pass
    assert verdict(0.06, 0.05) == "good"
    assert verdict(0.199, 0.329) == "good"
    assert verdict(0.20, 0.1) == "outside"
    assert verdict(0.1, 0.33) == "outside"
