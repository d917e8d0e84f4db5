"""Self-checks of a material's total energy: the run converged, its k mesh is dense enough
for energies, and the smearing of an insulator did not move its energy away from the
fixed-occupation one (|−TS|: the MgO point of docs/precision.md had 13.6 meV/atom of it and
an energy 4.4 meV/atom too high)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.quality.run_checks import (
    kpoint_density_check,
    relaxation_converged_check,
    scf_converged_check,
    smearing_entropy_check,
)
from htflow.quality.task_view import Scalar, task_view

if TYPE_CHECKING:
    from htflow.quality.schema import SelfCheck


def energy_checks(task: dict[str, Any]) -> tuple[list[SelfCheck], dict[str, Scalar]]:
    """Checks and settings of the run whose energy a material reports.

    Parameters
    ----------
    task
        The energy task document as stored (PwTaskDoc or VASP TaskDoc, the job's output).

    Returns
    -------
    tuple
        The checks run, and the settings behind the number (k mesh, k-points per reciprocal
        atom, smearing and width in Ry, cutoffs in Ry, SCF threshold in Ry; VASP: eV).
    """
    view = task_view(task)
    what = "energy" if view.calculation in (None, "scf", "Static") else f"{view.calculation} energy"
    found = [
        scf_converged_check(view, what),
        relaxation_converged_check(view),
        kpoint_density_check("energy", view, what),
        smearing_entropy_check(view, "energy"),
    ]
    return [c for c in found if c is not None], dict(view.settings)
