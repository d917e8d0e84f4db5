"""Handlers for relaxations: nstep reached, BFGS failures, FFT grid, final scf.

Every ionic restart starts from the last structure pw.x printed and from scratch:
pw.x builds the density again from atoms, which costs a few scf iterations but never
reads a density that belongs to another cell (vc-relax changes the FFT grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.qe.errors import PwError
from htflow.qe.handlers.base import (
    FROM_SCRATCH,
    QE_DEFAULTS,
    Changes,
    PwErrorHandler,
    calculation,
    last_structure_actions,
    merge,
    rerun_action,
    update_action,
)
from htflow.qe.pwinput import PwInput

if TYPE_CHECKING:
    from pathlib import Path


def _restart_from_last_structure(
    handler: PwErrorHandler, directory: str | Path, changes: Changes, reason: str
) -> dict[str, Any]:
    pw_input = PwInput.from_directory(directory)
    actions = last_structure_actions(directory, pw_input)
    update = update_action(pw_input, merge(FROM_SCRATCH, changes), reason)
    if update is not None:
        actions.append(update)
    if not actions:
        actions.append(rerun_action(f"{reason}; pw.x printed no newer structure"))
    return handler.corrected(directory, actions)


class IonicConvergenceHandler(PwErrorHandler):
    """``nstep`` ionic steps were not enough: continue from the last structure.

    From the 2nd correction on, ``nstep`` is also doubled (up to ``max_nstep``) so that a
    slow relaxation needs fewer restarts.
    """

    handles = frozenset({PwError.IONIC_NOT_CONVERGED})

    def __init__(self, max_nstep: int = 400, max_num_corrections: int = 5):
        super().__init__(max_num_corrections)
        self.max_nstep = max_nstep
        self._calls = 0

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Restart from the last structure; double ``nstep`` on repeated calls."""
        self._calls += 1
        pw_input = PwInput.from_directory(directory)
        control: dict[str, Any] = {}
        if self._calls >= 2:
            nstep = int(pw_input.control.get("nstep", QE_DEFAULTS["nstep"]))
            control["nstep"] = max(nstep, min(2 * nstep, self.max_nstep))
        return _restart_from_last_structure(
            self,
            directory,
            {"control": control},
            f"ionic convergence not reached (correction {self._calls}): "
            "continue from the last structure",
        )


class BfgsHandler(PwErrorHandler):
    """BFGS history failure: smaller trust radii first, then damped dynamics.

    The 1st correction scales ``trust_radius_min`` by ``trust_radius_min_factor`` and
    ``trust_radius_ini`` by ``trust_radius_ini_factor`` (close to a minimum the steps BFGS
    wants are below the old minimum); the 2nd switches to ``ion_dynamics='damp'`` (and
    ``cell_dynamics='damp-w'`` for vc-relax), which keeps no history to fail. Then it
    gives up.
    """

    handles = frozenset({PwError.BFGS_HISTORY_FAILURE})

    def __init__(
        self,
        trust_radius_min_factor: float = 0.1,
        trust_radius_ini_factor: float = 0.5,
        max_num_corrections: int = 2,
    ):
        super().__init__(max_num_corrections)
        self.trust_radius_min_factor = trust_radius_min_factor
        self.trust_radius_ini_factor = trust_radius_ini_factor
        self._calls = 0

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Escalate as described above and restart from the last structure."""
        self._calls += 1
        pw_input = PwInput.from_directory(directory)
        ions = pw_input.ions
        changes: Changes
        if self._calls == 1 and str(ions.get("ion_dynamics", "bfgs")) == "bfgs":
            tr_min = float(ions.get("trust_radius_min", QE_DEFAULTS["trust_radius_min"]))
            tr_ini = float(ions.get("trust_radius_ini", QE_DEFAULTS["trust_radius_ini"]))
            new_min = tr_min * self.trust_radius_min_factor
            changes = {
                "ions": {
                    "trust_radius_min": float(f"{new_min:.6g}"),
                    "trust_radius_ini": float(
                        f"{max(tr_ini * self.trust_radius_ini_factor, new_min):.6g}"
                    ),
                }
            }
            reason = "bfgs history failure: smaller trust radii"
        elif self._calls <= 2 and str(ions.get("ion_dynamics", "bfgs")) == "bfgs":
            changes = {"ions": {"ion_dynamics": "damp"}}
            if calculation(pw_input) == "vc-relax":
                changes["cell"] = {"cell_dynamics": "damp-w"}
            reason = "bfgs history failure again: damped dynamics"
        else:
            return self.corrected(directory, [])
        return _restart_from_last_structure(
            self, directory, changes, f"{reason}, restart from the last structure"
        )


class CellFactorHandler(PwErrorHandler):
    """vc-relax contracted the cell beyond the FFT/interpolation tables: double ``cell_factor``."""

    handles = frozenset({PwError.VC_RELAX_FFT_CONTRACTION})

    def __init__(self, max_cell_factor: float = 16.0, max_num_corrections: int = 3):
        super().__init__(max_num_corrections)
        self.max_cell_factor = max_cell_factor

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """``cell_factor`` × 2 (default 2.0), restart from the last structure."""
        pw_input = PwInput.from_directory(directory)
        factor = float(pw_input.cell.get("cell_factor", QE_DEFAULTS["cell_factor"]))
        new = 2.0 * factor
        if new > self.max_cell_factor:
            return self.corrected(directory, [])
        return _restart_from_last_structure(
            self,
            directory,
            {"cell": {"cell_factor": new}},
            f"volume change beyond cell_factor={factor}: cell_factor={new}, "
            "restart from the last structure",
        )


class FinalScfHandler(PwErrorHandler):
    """The final scf of a vc-relax disagrees with the last relaxation step.

    The plane-wave basis was built for the starting cell; a new vc-relax from the final
    structure builds it for that cell, and its final scf then agrees (what aiida's
    PwRelaxWorkChain does). A static scf would only report the mismatch, not remove it.
    Repeated calls do the same: each restart starts closer to the answer.
    """

    handles = frozenset({PwError.FINAL_SCF_MISMATCH})

    def __init__(self, max_num_corrections: int = 2):
        super().__init__(max_num_corrections)

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Restart the relaxation from the final structure."""
        return _restart_from_last_structure(
            self,
            directory,
            {},
            "final scf disagrees with the relaxed cell: relax again from the final structure",
        )
