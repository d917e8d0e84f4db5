"""Self-checks of a band gap and Fermi level: for a gapped system computed with smearing,
E_F sits inside the gap and −TS is ~0; for a metal, only that the run converged. A gap read
from a non-SCF DOS run is also held to the DOS's k-point needs (their criterion is the gap)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.quality.run_checks import (
    efermi_in_gap_check,
    kpoint_density_check,
    scf_converged_check,
    smearing_entropy_check,
)
from htflow.quality.task_view import Scalar, task_view

if TYPE_CHECKING:
    from htflow.quality.schema import SelfCheck


def band_gap_checks(
    task: dict[str, Any], from_dos: bool = False
) -> tuple[list[SelfCheck], dict[str, Scalar]]:
    """Checks and settings of the run a material's band gap and E_F come from.

    Parameters
    ----------
    task
        That run's task document as stored.
    from_dos
        True when it is the non-SCF DOS run (its mesh is then held to the DOS's needs).
    """
    view = task_view(task)
    found = [scf_converged_check(view, view.calculation or "band gap")]
    if from_dos:
        found.append(kpoint_density_check("dos", view, "band gap"))
    if view.is_metal is False:
        found += [efermi_in_gap_check(view), smearing_entropy_check(view)]
    return [c for c in found if c is not None], dict(view.settings)
