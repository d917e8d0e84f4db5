"""Self-checks of an elastic tensor, from atomate2's ``ElasticDocument`` as stored.

Every check works for any crystal system: the stresses are refitted per strain component
(pymatgen's ``ElasticTensor.from_independent_strains``) on subsets of the symmetry-expanded
data atomate2 keeps in ``fitting_data``, and symmetry is judged against the structure's own
point group (``fit_to_structure``). Stresses are GPa, tension positive (atomate2's
convention); strains are Green-Lagrange, shear in Voigt (engineering) form.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.analysis.elasticity import ElasticTensor, Strain

from htflow.quality.run_checks import kpoint_density_check, smearing_width_check
from htflow.quality.schema import SelfCheck
from htflow.quality.task_view import Scalar, task_view
from htflow.quality.tolerances import ElasticTolerances, load_tolerances

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.quality.task_view import TaskView

# A strain component below this is zero: atomate2's strains are 0.5 % or more, and its
# symmetry expansion leaves rounding noise of ~1e-16 in the other components.
STRAIN_ZERO = 1e-6
VOIGT = ("11", "22", "33", "23", "13", "12")


@dataclass(frozen=True)
class _Point:
    """One strained cell: its one non-zero Voigt strain component and its stress."""

    component: int
    value: float
    stress: np.ndarray

    @property
    def strain(self) -> Strain:
        voigt = np.zeros(6)
        voigt[self.component] = self.value
        return Strain.from_voigt(voigt)

    @property
    def magnitude(self) -> float:
        return round(abs(self.value), 6)


def elastic_checks(
    doc: dict[str, Any], strained: list[dict[str, Any]] | None = None
) -> tuple[list[SelfCheck], dict[str, Scalar]]:
    """Checks and settings of an elastic tensor.

    Parameters
    ----------
    doc
        The ElasticDocument as stored (the job's output).
    strained
        Task documents (as stored) of the strained cells, for their k-point density; the
        builder finds them by ``fitting_data.uuids``. Empty: those checks are skipped.
    """
    tol = load_tolerances().elastic
    tensors = doc.get("elastic_tensor") or {}
    stored = tensors.get("ieee_format") or tensors.get("raw")
    checks = [born_check(np.asarray(stored, dtype=float), tol)]
    structure = _structure(doc)
    if tensors.get("raw") is not None and structure is not None:
        checks += symmetry_checks(np.asarray(tensors["raw"], dtype=float), structure, tol)
    points = _points(doc.get("fitting_data") or {})
    eq_stress = doc.get("eq_stress")
    zero = np.asarray(eq_stress, dtype=float) if eq_stress is not None else _intercept(points)
    if zero is not None:
        checks.append(residual_stress_check(zero, eq_stress is not None, tol))
    reference = ElasticTensor.from_voigt(np.asarray(tensors.get("raw") or stored, dtype=float))
    checks += agreement_checks(points, zero, reference, tol)
    views = [task_view(t) for t in strained or []]
    checks += strained_cell_checks(views)
    settings: dict[str, Scalar] = dict(views[0].settings) if views else {}
    settings.update(
        {
            "fitting_method": doc.get("fitting_method"),
            "n_strained_cells": len(views) or None,
            "n_stress_strain_pairs": len(points),
            "eq_stress_known": eq_stress is not None,
        }
    )
    return checks, {k: v for k, v in settings.items() if v is not None}


def born_check(voigt: np.ndarray, tol: ElasticTolerances) -> SelfCheck:
    """Born stability: every eigenvalue of the (symmetrised) 6×6 tensor is positive."""
    smallest = float(np.linalg.eigvalsh((voigt + voigt.T) / 2).min())
    passed = smallest > tol.born_min_eigenvalue_gpa
    return SelfCheck(
        name="born_stability",
        passed=passed,
        value=smallest,
        limit=tol.born_min_eigenvalue_gpa,
        unit="GPa",
        detail=f"smallest eigenvalue of the Voigt tensor {smallest:.1f} GPa: "
        + (
            "mechanically stable (Born)"
            if passed
            else "not positive definite, so the crystal is mechanically unstable or the "
            "tensor is wrong"
        ),
    )


def symmetry_checks(
    raw: np.ndarray, structure: Structure, tol: ElasticTolerances
) -> list[SelfCheck]:
    """The tensor against the crystal's point group, and C_ij = C_ji (relative to max |C|).

    ``raw`` must be in the Cartesian frame of ``structure`` (atomate2's ``raw`` tensor).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    tensor = ElasticTensor.from_voigt(raw)
    scale = float(np.abs(raw).max()) or 1.0
    fitted = tensor.fit_to_structure(structure).voigt
    forbidden = float(np.abs(raw - fitted).max()) / scale
    asymmetric = float(np.abs(raw - raw.T).max()) / scale
    group = SpacegroupAnalyzer(structure, symprec=0.1).get_point_group_symbol()
    limit = tol.symmetry_relative
    return [
        SelfCheck(
            name="point_group_symmetry",
            passed=forbidden <= limit,
            value=100 * forbidden,
            limit=100 * limit,
            unit="%",
            detail=f"largest departure from point group {group}: {100 * forbidden:.2f} % of "
            f"max |C| ({scale:.1f} GPa)"
            + ("" if forbidden <= limit else ": components the symmetry forbids are noise"),
        ),
        SelfCheck(
            name="voigt_symmetric",
            passed=asymmetric <= limit,
            value=100 * asymmetric,
            limit=100 * limit,
            unit="%",
            detail=f"largest |C_ij - C_ji|: {100 * asymmetric:.2f} % of max |C|",
        ),
    ]


def residual_stress_check(zero: np.ndarray, measured: bool, tol: ElasticTolerances) -> SelfCheck:
    """The stress of the unstrained cell (GPa): the tensor is taken about a stressed state."""
    largest = float(np.abs(zero).max())
    source = (
        "equilibrium stress of the unstrained cell"
        if measured
        else "zero-strain intercept of the +/- strain pairs (no equilibrium stress stored)"
    )
    passed = largest <= tol.residual_stress_gpa
    detail = f"{source}: largest component {largest:.2f} GPa"
    if not passed:
        detail += ": the cell is not at equilibrium for its settings, so C_ij shift by ~B1 x p"
    return SelfCheck(
        name="residual_stress",
        passed=passed,
        value=largest,
        limit=tol.residual_stress_gpa,
        unit="GPa",
        detail=detail,
    )


def agreement_checks(
    points: list[_Point],
    zero: np.ndarray | None,
    reference: ElasticTensor,
    tol: ElasticTolerances,
) -> list[SelfCheck]:
    """Fits of subsets of the strains must agree: + vs − strains, small vs large magnitudes.

    A one-sided fit carries the third-order (anharmonic) response: σ = Cε + Dε² gives
    C ± D|ε| from the tension and compression sides, which the two-sided fit cancels. With
    two magnitudes on each side, each side is extrapolated to zero strain first
    (:func:`_extrapolated`), so the sign check sees a wrong stress, not the crystal's
    stiffening under compression (SrS at balanced: one-sided C11 101–116 GPa, both sides
    108 GPa at zero strain).
    """
    checks = []
    plus, minus = _extrapolated(points, 1, zero), _extrapolated(points, -1, zero)
    if plus is not None and minus is not None:
        found = _compare(
            "strain_sign_agreement",
            ("positive-strain", plus),
            ("negative-strain", minus),
            reference=reference,
            tol=tol,
            consequence="tension and compression disagree beyond the anharmonic part "
            "linear in the strain: a wrong stress in a strained cell",
            how="fits extrapolated to zero strain",
        )
    else:
        found = _compare(
            "strain_sign_agreement",
            ("positive-strain", _fit([p for p in points if p.value > 0], zero)),
            ("negative-strain", _fit([p for p in points if p.value < 0], zero)),
            reference=reference,
            tol=tol,
            consequence="tension and compression give different C_ij: a wrong stress or a "
            "non-linear response",
        )
    if found:
        checks.append(found)
    small, large = _by_magnitude(points)
    found = _compare(
        "strain_linearity",
        ("smaller-strain", _fit(small, zero)),
        ("larger-strain", _fit(large, zero)),
        reference=reference,
        tol=tol,
        consequence="small and large strains give different C_ij: stress noise (amplified "
        "by the small strains) or strains beyond the linear regime",
    )
    if found:
        checks.append(found)
    return checks


def _extrapolated(points: list[_Point], sign: int, zero: np.ndarray | None) -> ElasticTensor | None:
    """The fit of one strain sign extrapolated to zero strain from its two magnitudes.

    Per strain component j (column j of the Voigt matrix), C(0) = (εL C(εS) − εS C(εL)) /
    (εL − εS): Richardson's step for an error linear in ε. None without two magnitudes of
    this sign for every component.
    """
    small, large = _by_magnitude([p for p in points if p.value * sign > 0])
    fit_small, fit_large = _fit(small, zero), _fit(large, zero)
    if fit_small is None or fit_large is None:
        return None
    e_small, e_large = np.zeros(6), np.zeros(6)
    for p in small:
        e_small[p.component] = p.magnitude
    for p in large:
        e_large[p.component] = p.magnitude
    if not (e_large > e_small).all():
        return None
    voigt = (e_large * fit_small.voigt - e_small * fit_large.voigt) / (e_large - e_small)
    return ElasticTensor.from_voigt(voigt)


def strained_cell_checks(views: list[TaskView]) -> list[SelfCheck]:
    """k-point density of the strained cells, and one mesh for all of them."""
    if not views:
        return []
    found = [kpoint_density_check("elastic", v, "strained cells") for v in views]
    density = [c for c in found if c is not None]
    checks = []
    if density:
        checks.append(min(density, key=lambda c: (c.passed, c.value or 0.0)))
    widths = [c for c in (smearing_width_check("elastic", v, "strained cells") for v in views) if c]
    if widths:
        checks.append(min(widths, key=lambda c: c.passed))
    meshes = Counter(v.mesh_label for v in views)
    one = len(meshes) == 1
    listing = ", ".join(f"{mesh}: {n}" for mesh, n in sorted(meshes.items()))
    checks.append(
        SelfCheck(
            name="strained_cells_one_mesh",
            passed=one,
            value=float(len(meshes)),
            limit=1.0,
            unit="meshes",
            detail=f"all {len(views)} strained cells on one {next(iter(meshes))} mesh"
            if one
            else f"strained cells on {len(meshes)} meshes ({listing}): the stress jumps "
            "where the mesh changes",
        )
    )
    return checks


def _compare(
    name: str,
    first: tuple[str, ElasticTensor | None],
    second: tuple[str, ElasticTensor | None],
    *,
    reference: ElasticTensor,
    tol: ElasticTolerances,
    consequence: str,
    how: str = "fit",
) -> SelfCheck | None:
    (label_a, fit_a), (label_b, fit_b) = first, second
    if fit_a is None or fit_b is None:
        return None  # a subset lacks a strain component (e.g. one magnitude only)
    dk = abs(float(fit_a.k_voigt - fit_b.k_voigt))
    dg = abs(float(fit_a.g_voigt - fit_b.g_voigt))
    diff = np.abs(fit_a.voigt - fit_b.voigt)
    i, j = (int(x) for x in np.unravel_index(int(np.argmax(diff)), diff.shape))
    dc = float(diff[i, j])
    limits = (
        (dk, tol.agreement_limit(float(reference.k_voigt))),
        (dg, tol.agreement_limit(float(reference.g_voigt))),
        (dc, tol.agreement_limit(float(np.abs(reference.voigt).max()))),
    )
    passed = all(value <= limit for value, limit in limits)
    worst = max(limits, key=lambda pair: pair[0] / pair[1])
    detail = (
        f"{label_a} vs {label_b} {how}: dK_V {dk:.1f} GPa (limit {limits[0][1]:.1f}), "
        f"dG_V {dg:.1f} GPa (limit {limits[1][1]:.1f}), max |dC_ij| {dc:.1f} GPa at "
        f"C{i + 1}{j + 1} ({fit_a.voigt[i, j]:.1f} vs {fit_b.voigt[i, j]:.1f}; limit "
        f"{limits[2][1]:.1f})"
    )
    if not passed:
        detail += f": {consequence}"
    return SelfCheck(
        name=name, passed=passed, value=worst[0], limit=worst[1], unit="GPa", detail=detail
    )


def _fit(points: list[_Point], zero: np.ndarray | None) -> ElasticTensor | None:
    if not points:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about extra strain states
        try:
            fitted = ElasticTensor.from_independent_strains(
                [p.strain for p in points],
                [p.stress for p in points],
                eq_stress=zero if zero is not None else np.zeros((3, 3)),
            )
        except ValueError:
            return None
    return fitted if np.isfinite(fitted.voigt).all() else None


def _by_magnitude(points: list[_Point]) -> tuple[list[_Point], list[_Point]]:
    """The smallest and the largest strain magnitude of each component."""
    small: list[_Point] = []
    large: list[_Point] = []
    for component in range(6):
        mine = [p for p in points if p.component == component]
        magnitudes = sorted({p.magnitude for p in mine})
        if len(magnitudes) < 2:
            return [], []
        small += [p for p in mine if p.magnitude == magnitudes[0]]
        large += [p for p in mine if p.magnitude == magnitudes[-1]]
    return small, large


def _intercept(points: list[_Point]) -> np.ndarray | None:
    """The stress at zero strain: mean of σ(+ε) and σ(−ε) at each component's smallest
    magnitude with both signs, averaged over components (None without such pairs)."""
    pairs = []
    for component in range(6):
        mine = [p for p in points if p.component == component]
        for magnitude in sorted({p.magnitude for p in mine}):
            plus = [p.stress for p in mine if p.magnitude == magnitude and p.value > 0]
            minus = [p.stress for p in mine if p.magnitude == magnitude and p.value < 0]
            if plus and minus:
                pairs.append((np.mean(plus, axis=0) + np.mean(minus, axis=0)) / 2)
                break
    return np.mean(pairs, axis=0) if pairs else None


def _points(fitting_data: dict[str, Any]) -> list[_Point]:
    strains = fitting_data.get("strains") or []
    stresses = fitting_data.get("pk_stresses") or fitting_data.get("cauchy_stresses") or []
    points = []
    for strain, stress in zip(strains, stresses, strict=False):
        voigt = Strain(np.asarray(strain, dtype=float)).voigt
        nonzero = np.flatnonzero(np.abs(voigt) > STRAIN_ZERO)
        if len(nonzero) != 1:
            continue  # not a single-component strain: no use for the independent fit
        component = int(nonzero[0])
        value = float(voigt[component])
        stress_arr = np.asarray(stress, dtype=float)
        if math.isfinite(value) and np.isfinite(stress_arr).all():
            points.append(_Point(component, value, stress_arr))
    return points


def _structure(doc: dict[str, Any]) -> Structure | None:
    from pymatgen.core import Structure

    raw = doc.get("structure")
    return Structure.from_dict(raw) if isinstance(raw, dict) else None
