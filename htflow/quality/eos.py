"""Self-checks of a Birch-Murnaghan equation of state (htflow's ``EosDoc`` as stored).

The fit is pymatgen's ``BirchMurnaghan`` on energies and volumes per atom, as
:func:`htflow.qe.eos.fit_birch_murnaghan` does; B0 is in GPa, V0 in Å³/atom.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from htflow.quality.run_checks import kpoint_density_check
from htflow.quality.schema import SelfCheck
from htflow.quality.task_view import Scalar, task_view
from htflow.quality.tolerances import EosTolerances, load_tolerances

if TYPE_CHECKING:
    from htflow.quality.task_view import TaskView

MIN_POINTS = 4  # a Birch-Murnaghan fit has four parameters


def eos_checks(
    doc: dict[str, Any], points: list[dict[str, Any]] | None = None
) -> tuple[list[SelfCheck], dict[str, Scalar]]:
    """Checks and settings of an equation of state.

    Parameters
    ----------
    doc
        The EosDoc as stored: ``v0`` (Å³/atom), ``b0`` (GPa), ``b1``, ``points``
        (``volume_per_atom``, ``energy_per_atom``).
    points
        Task documents (as stored) of the fixed-volume runs, for their k-point density; the
        builder finds them by ``dir_names``. Empty: that check is skipped.
    """
    tol = load_tolerances().eos
    pairs = sorted(
        (float(p["volume_per_atom"]), float(p["energy_per_atom"])) for p in doc.get("points") or []
    )
    volumes = [v for v, _ in pairs]
    energies = [e for _, e in pairs]
    checks = []
    if len(pairs) >= MIN_POINTS:
        checks.append(fit_residual_check(volumes, energies, tol))
    v0, b0, b1 = doc.get("v0"), doc.get("b0"), doc.get("b1")
    if v0 is not None and volumes:
        checks.append(v0_in_range_check(float(v0), volumes))
    if b0 is not None:
        checks.append(
            SelfCheck(
                name="b0_positive",
                passed=b0 > 0,
                value=float(b0),
                limit=0.0,
                unit="GPa",
                detail=f"B0 {b0:.1f} GPa" + ("" if b0 > 0 else ": not a minimum of E(V)"),
            )
        )
    if b1 is not None:
        checks.append(b1_range_check(float(b1), tol))
    views = [task_view(t) for t in points or []]
    checks += _density(views)
    settings: dict[str, Scalar] = dict(views[0].settings) if views else {}
    settings["n_points"] = len(pairs)
    if volumes:
        settings["volume_min_a3_per_atom"] = volumes[0]
        settings["volume_max_a3_per_atom"] = volumes[-1]
    return checks, settings


def fit_residual_check(
    volumes: list[float], energies: list[float], tol: EosTolerances
) -> SelfCheck:
    """RMS of E_i − E_BM(V_i) in meV/atom."""
    from pymatgen.analysis.eos import BirchMurnaghan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eos = BirchMurnaghan(volumes, energies)
        eos.fit()
        fitted = np.asarray(eos.func(np.asarray(volumes)), dtype=float)
    residuals = (np.asarray(energies) - fitted) * 1000.0
    rms = float(np.sqrt(np.mean(residuals**2)))
    worst = int(np.argmax(np.abs(residuals)))
    passed = math.isfinite(rms) and rms <= tol.residual_rms_mev_per_atom
    detail = (
        f"Birch-Murnaghan fit residual {rms:.3f} meV/atom RMS over {len(volumes)} points "
        f"(largest {residuals[worst]:+.3f} meV/atom at {volumes[worst]:.3f} Å³/atom)"
    )
    if not passed:
        detail += ": E(V) is not smooth (a bad point, mesh or basis jumps)"
    return SelfCheck(
        name="eos_fit_residual",
        passed=passed,
        value=rms if math.isfinite(rms) else None,
        limit=tol.residual_rms_mev_per_atom,
        unit="meV/atom",
        detail=detail,
    )


def v0_in_range_check(v0: float, volumes: list[float]) -> SelfCheck:
    """V0 lies inside the sampled volumes (an extrapolated minimum is not measured)."""
    low, high = min(volumes), max(volumes)
    passed = low <= v0 <= high
    return SelfCheck(
        name="eos_v0_in_range",
        passed=passed,
        value=v0,
        unit="Å³/atom",
        detail=f"V0 {v0:.3f} Å³/atom "
        + (
            f"inside the sampled {low:.3f}-{high:.3f} Å³/atom"
            if passed
            else f"outside the sampled {low:.3f}-{high:.3f} Å³/atom: an extrapolated minimum"
        ),
    )


def b1_range_check(b1: float, tol: EosTolerances) -> SelfCheck:
    """B1 inside the physical range of ``tolerances.yaml``."""
    passed = tol.b1_min <= b1 <= tol.b1_max
    return SelfCheck(
        name="eos_b1_range",
        passed=passed,
        value=b1,
        limit=tol.b1_max if b1 > tol.b1_max else tol.b1_min,
        detail=f"B1 {b1:.2f} "
        + (
            f"inside the physical range {tol.b1_min:g}-{tol.b1_max:g}"
            if passed
            else f"outside the physical range {tol.b1_min:g}-{tol.b1_max:g}: "
            "one bad E(V) point bends the fit"
        ),
    )


def _density(views: list[TaskView]) -> list[SelfCheck]:
    found = [kpoint_density_check("eos", v, "E(V) points") for v in views]
    density = [c for c in found if c is not None]
    return [min(density, key=lambda c: (c.passed, c.value or 0.0))] if density else []
