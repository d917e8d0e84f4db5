"""The ACWF comparison metrics ε, ν and Δ between two Birch–Murnaghan curves.

Definitions (Bosoni et al., Nat. Rev. Phys. 6, 45 (2024); restated in
``data/acwf_dev_subset.json`` under ``metrics``), for curves a and b per atom with E0 = 0:

- ε = sqrt(<(Ea − Eb)²> / sqrt(Var(Ea) Var(Eb))), averages over V in [0.94 Vm, 1.06 Vm],
  Vm = (V0a + V0b) / 2;
- Δ = sqrt(<(Ea − Eb)²>) over the same window (reported in meV/atom);
- ν = 100 sqrt(Σ_Y [w_Y · 2 (Ya − Yb) / (Ya + Yb)]²), Y ∈ (V0, B0, B1), w = 1, 1/20, 1/400.

The window averages are continuous integrals, evaluated with composite Simpson's rule on a
fine grid (the integrands are smooth, so 2001 points are exact to ~1e-12 relative).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from htflow.exceptions import InputError

EV_PER_A3_TO_GPA = 160.21766208
WINDOW = (0.94, 1.06)
NU_WEIGHTS = (1.0, 1.0 / 20.0, 1.0 / 400.0)
# Thresholds of the study: "excellent" and "good"; both metrics must pass.
THRESHOLDS = {"excellent": {"epsilon": 0.06, "nu": 0.10}, "good": {"epsilon": 0.20, "nu": 0.33}}
_GRID_POINTS = 2001

Verdict = Literal["excellent", "good", "outside"]


class EosParams(BaseModel):
    """Birch–Murnaghan parameters of one equation of state (per atom)."""

    model_config = ConfigDict(frozen=True)

    v0: float = Field(gt=0, description="Equilibrium volume V0 (Å³/atom).")
    b0: float = Field(gt=0, description="Bulk modulus B0 (GPa).")
    b1: float = Field(description="Pressure derivative of the bulk modulus B1 (dimensionless).")


class Metrics(BaseModel):
    """ε, ν and Δ of one curve against a reference, and the verdict."""

    epsilon: float = Field(description="ε: RMS energy difference over the EOS spread (unitless).")
    nu: float = Field(description="ν: weighted relative difference of V0, B0, B1 (unitless).")
    delta: float = Field(description="Δ: RMS energy difference over the window (meV/atom).")
    verdict: Verdict = Field(description="excellent, good or outside (thresholds of the study).")


def birch_murnaghan(volumes: np.ndarray, params: EosParams) -> np.ndarray:
    """Birch–Murnaghan energy with E0 = 0 (eV/atom) at ``volumes`` (Å³/atom)."""
    b0 = params.b0 / EV_PER_A3_TO_GPA  # eV/Å³
    eta = (params.v0 / np.asarray(volumes, dtype=float)) ** (2.0 / 3.0)
    x = eta - 1.0
    result: np.ndarray = 9.0 * params.v0 * b0 / 16.0 * (x**3 * params.b1 + x**2 * (6.0 - 4.0 * eta))
    return result


def _window_means(
    a: EosParams, b: EosParams
) -> tuple[float, float, float]:  # <(Ea-Eb)^2>, Var(Ea), Var(Eb)
    vm = (a.v0 + b.v0) / 2.0
    volumes = np.linspace(WINDOW[0] * vm, WINDOW[1] * vm, _GRID_POINTS)
    ea = birch_murnaghan(volumes, a)
    eb = birch_murnaghan(volumes, b)
    width = volumes[-1] - volumes[0]

    def mean(values: np.ndarray) -> float:
        return _simpson(values, volumes) / width

    mean_a, mean_b = mean(ea), mean(eb)
    return (
        mean((ea - eb) ** 2),
        mean(ea**2) - mean_a**2,
        mean(eb**2) - mean_b**2,
    )


def _simpson(values: np.ndarray, x: np.ndarray) -> float:
    # composite Simpson on an odd number of equally spaced points
    h = (x[-1] - x[0]) / (len(x) - 1)
    total = values[0] + values[-1] + 4.0 * values[1:-1:2].sum() + 2.0 * values[2:-1:2].sum()
    return float(total * h / 3.0)


def epsilon(a: EosParams, b: EosParams) -> float:
    """ε between two curves (dimensionless)."""
    msd, var_a, var_b = _window_means(a, b)
    return math.sqrt(max(msd, 0.0) / math.sqrt(var_a * var_b))


def delta(a: EosParams, b: EosParams) -> float:
    """Δ between two curves (meV/atom)."""
    msd, _, _ = _window_means(a, b)
    return 1000.0 * math.sqrt(max(msd, 0.0))


def nu(a: EosParams, b: EosParams) -> float:
    """ν between two parameter sets (dimensionless, the study's ×100 scale)."""
    pairs = ((a.v0, b.v0), (a.b0, b.b0), (a.b1, b.b1))
    total = 0.0
    for weight, (ya, yb) in zip(NU_WEIGHTS, pairs, strict=True):
        if ya + yb == 0:
            raise InputError(f"nu is undefined when a parameter pair sums to zero ({ya}, {yb})")
        total += (weight * 2.0 * (ya - yb) / (ya + yb)) ** 2
    return 100.0 * math.sqrt(total)


def verdict(eps: float, nu_value: float) -> Verdict:
    """``excellent`` / ``good`` when both ε and ν are below that level's thresholds."""
    for level in ("excellent", "good"):
        limits = THRESHOLDS[level]
        if eps < limits["epsilon"] and nu_value < limits["nu"]:
            return "excellent" if level == "excellent" else "good"
    return "outside"


def compare(computed: EosParams, reference: EosParams) -> Metrics:
    """All three metrics of ``computed`` against ``reference`` and the verdict."""
    eps = epsilon(computed, reference)
    nu_value = nu(computed, reference)
    return Metrics(
        epsilon=eps, nu=nu_value, delta=delta(computed, reference), verdict=verdict(eps, nu_value)
    )
