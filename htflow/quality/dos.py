"""Self-checks of a density of states: the non-SCF mesh is dense enough for a DOS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.quality.run_checks import kpoint_density_check
from htflow.quality.task_view import Scalar, task_view

if TYPE_CHECKING:
    from htflow.quality.schema import SelfCheck


def dos_checks(task: dict[str, Any]) -> tuple[list[SelfCheck], dict[str, Scalar]]:
    """Checks and settings of the non-SCF run that holds a material's DOS."""
    view = task_view(task)
    found = [kpoint_density_check("dos", view, "DOS")]
    return [c for c in found if c is not None], dict(view.settings)
