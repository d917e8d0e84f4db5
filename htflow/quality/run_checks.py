"""Checks of single runs: convergence, k-point density against the property's needs, and the
Fermi level and −TS of gapped runs with smearing.

Each returns a :class:`SelfCheck`, or None when the run does not carry what the check needs
(a VASP run has no −TS here; an explicit k-point list has no density).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.qe.sets.sampling import load_property_needs
from htflow.quality.schema import SelfCheck
from htflow.quality.tolerances import load_tolerances

if TYPE_CHECKING:
    from htflow.quality.task_view import TaskView

# What a property loses when its runs are sampled below its needs.
UNDER_SAMPLED = {
    "energy": "formation energies and hulls inherit mesh jumps",
    "elastic": "C_ij carry the sampling error of the strained cells' stresses",
    "eos": "V0, B0 and B1 carry the sampling error of E(V)",
    "dos": "the DOS and the gap are not converged in k",
}


def _class_label(is_metal: bool | None) -> str:
    if is_metal is False:
        return "an insulator"
    return "a metal" if is_metal else "a metal (class not known)"


def kpoint_density_check(prop: str, view: TaskView, what: str) -> SelfCheck | None:
    """k-points per reciprocal atom of ``view`` against what ``prop`` needs for its class.

    Parameters
    ----------
    prop
        A property of ``htflow/qe/sets/properties.yaml`` (energy, elastic, eos, dos).
    view
        The run.
    what
        How the detail names the run, e.g. ``"energy"`` or ``"strained cells"``.
    """
    have = view.kpoints_per_atom
    if have is None:
        return None
    needs = load_property_needs(prop)
    need = needs.for_class(view.is_metal).kpoints_per_atom
    passed = have >= need
    detail = (
        f"{what} from a {view.mesh_label} mesh ({have} k-points/atom), "
        f"{'at or above' if passed else 'below'} the {need} {_class_label(view.is_metal)} "
        f"needs for {prop} ({needs.criterion})"
    )
    if not passed:
        detail += f": {UNDER_SAMPLED.get(prop, 'not converged in k')}"
    return SelfCheck(
        name=f"{prop}_kpoint_density",
        passed=passed,
        value=float(have),
        limit=float(need),
        unit="k-points/atom",
        detail=detail,
    )


def smearing_width_check(prop: str, view: TaskView, what: str) -> SelfCheck | None:
    """A metal's smearing width against the one ``prop``'s density was measured with (Ry).

    None unless ``prop`` declares a width for the run's class, the run is a known metal with
    smearing and its width is known (pw.x runs).
    """
    width = view.settings.get("degauss_ry")
    if view.is_metal is not True or not view.smearing or not isinstance(width, int | float):
        return None
    needs = load_property_needs(prop).metal
    if needs.degauss is None:
        return None
    passed = abs(float(width) - needs.degauss) <= 1e-9
    detail = (
        f"{what} of a metal smeared by {width} Ry; the {needs.kpoints_per_atom} k-points/atom "
        f"{prop} needs were measured with {needs.degauss} Ry"
    )
    if not passed:
        detail += (
            f": at other widths that density is not known to converge "
            f"({UNDER_SAMPLED.get(prop, 'not converged in k')})"
        )
    return SelfCheck(
        name=f"{prop}_smearing_width",
        passed=passed,
        value=float(width),
        limit=needs.degauss,
        unit="Ry",
        detail=detail,
    )


def scf_converged_check(view: TaskView, what: str) -> SelfCheck | None:
    """The last SCF converged (None for runs without an SCF, e.g. non-SCF DOS runs)."""
    if view.scf_converged is None:
        return None
    return SelfCheck(
        name="scf_converged",
        passed=bool(view.scf_converged),
        detail=f"the SCF of the {what} run "
        + ("converged" if view.scf_converged else "did not converge: the number is not final"),
    )


def relaxation_converged_check(view: TaskView) -> SelfCheck | None:
    """A relaxation reached its force and stress thresholds (None when not a relaxation)."""
    if view.ionic_converged is None:
        return None
    return SelfCheck(
        name="relaxation_converged",
        passed=bool(view.ionic_converged),
        detail=f"the {view.calculation or 'relaxation'} "
        + ("converged" if view.ionic_converged else "stopped before reaching its thresholds"),
    )


def efermi_in_gap_check(view: TaskView) -> SelfCheck | None:
    """A gapped run with smearing has its Fermi level inside [homo, lumo] (eV)."""
    if not (view.is_gapped and view.smearing and view.efermi is not None):
        return None
    assert view.homo is not None and view.lumo is not None
    tol = load_tolerances().band_gap.efermi_tolerance_ev
    below = view.homo - view.efermi
    above = view.efermi - view.lumo
    outside = max(below, above, 0.0)
    passed = outside <= tol
    gap = f"[{view.homo:.4f}, {view.lumo:.4f}] eV"
    if below > 0:
        where = f"{below:.4f} eV below the valence band maximum {view.homo:.4f} eV"
    elif above > 0:
        where = f"{above:.4f} eV above the conduction band minimum {view.lumo:.4f} eV"
    else:
        where = f"inside the gap {gap}"
    detail = f"E_F {view.efermi:.4f} eV of a {view.band_gap:.3f} eV-gap system is {where}"
    if not passed:
        detail += (
            " (smearing emptied band-edge states: the energy and E_F are biased; "
            "rerun with fixed occupations or Gaussian smearing)"
        )
    return SelfCheck(
        name="efermi_in_gap",
        passed=passed,
        value=outside,
        limit=tol,
        unit="eV",
        detail=detail,
    )


def smearing_entropy_check(view: TaskView, prop: str = "band_gap") -> SelfCheck | None:
    """|−TS| per atom of a gapped run with smearing (meV/atom), against ``prop``'s limit.

    For a band gap it must be ~0; for an energy it bounds the difference to the
    fixed-occupation energy (see ``tolerances.yaml``).
    """
    if not (view.is_gapped and view.smearing and view.minus_ts_ev is not None):
        return None
    tolerances = load_tolerances()
    if prop == "energy":
        tol = tolerances.energy.smearing_entropy_mev_per_atom
        consequence = (
            "the smeared energy can differ from the fixed-occupation one by up to half of that"
        )
    else:
        tol = tolerances.band_gap.smearing_entropy_mev_per_atom
        consequence = "smearing reaches across the band edges"
    per_atom = abs(view.minus_ts_ev) / view.nsites * 1000.0
    passed = per_atom <= tol
    detail = (
        f"|-TS| = {per_atom:.2f} meV/atom in a {view.band_gap:.3f} eV-gap system "
        f"({'within' if passed else 'above'} {tol:g} meV/atom)"
    )
    if not passed:
        detail += f": {consequence}"
    return SelfCheck(
        name="smearing_entropy",
        passed=passed,
        value=per_atom,
        limit=tol,
        unit="meV/atom",
        detail=detail,
    )
