"""Handlers for the electronic problems: scf convergence, eigensolver crashes, band count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.qe.errors import PwError
from htflow.qe.handlers.base import (
    FROM_SCRATCH,
    IONIC_CALCULATIONS,
    QE_DEFAULTS,
    Action,
    Changes,
    PwErrorHandler,
    calculation,
    electronic_restart,
    last_structure_actions,
    merge,
    number_of_bands,
    update_action,
)
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir

if TYPE_CHECKING:
    from pathlib import Path


class ScfConvergenceHandler(PwErrorHandler):
    """The scf did not converge within ``electron_maxstep``.

    Every correction lowers ``mixing_beta`` by ``mixing_beta_factor`` (not below
    ``min_mixing_beta``) and restarts from the last charge density; the 2nd adds
    ``mixing_mode='local-TF'``, the 3rd doubles ``electron_maxstep`` (up to
    ``max_electron_maxstep``), the 4th switches to ``diagonalization='cg'``. Gives up when
    nothing is left to change.
    """

    handles = frozenset({PwError.SCF_NOT_CONVERGED})

    def __init__(
        self,
        mixing_beta_factor: float = 0.8,
        min_mixing_beta: float = 0.1,
        max_electron_maxstep: int = 400,
        max_num_corrections: int = 6,
    ):
        super().__init__(max_num_corrections)
        self.mixing_beta_factor = mixing_beta_factor
        self.min_mixing_beta = min_mixing_beta
        self.max_electron_maxstep = max_electron_maxstep
        self._calls = 0

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Lower the mixing, escalate as described above, restart from the last density."""
        pw_input = PwInput.from_directory(directory)
        self._calls += 1
        electrons = pw_input.electrons
        beta = float(electrons.get("mixing_beta", QE_DEFAULTS["mixing_beta"]))
        changes: dict[str, Any] = {
            "mixing_beta": round(max(beta * self.mixing_beta_factor, self.min_mixing_beta), 6)
        }
        if self._calls >= 2:
            changes["mixing_mode"] = "local-TF"
        if self._calls >= 3:
            maxstep = int(electrons.get("electron_maxstep", QE_DEFAULTS["electron_maxstep"]))
            changes["electron_maxstep"] = max(maxstep, min(2 * maxstep, self.max_electron_maxstep))
        if self._calls >= 4:
            changes["diagonalization"] = "cg"
        electronic = update_action(pw_input, {"electrons": changes}, "")
        if electronic is None:
            return self.corrected(directory, [])  # mixing at its floor, everything tried
        structure, restart, how = electronic_restart(directory, pw_input, wavefunctions=True)
        update = update_action(
            pw_input,
            merge(restart, {"electrons": changes}),
            f"scf not converged (correction {self._calls}): gentler mixing, restart {how}",
        )
        return self.corrected(directory, [*structure, update] if update else structure)


class DiagonalizationHandler(PwErrorHandler):
    """The iterative eigensolver failed: switch to the next algorithm in ``algorithms``.

    The next is the first untried one after the current in ``algorithms`` (wrapping
    around), so the run moves towards the robust end of the list: ``cg`` is last because
    it is the slowest and the most robust. ``paro`` exists only from pw.x 7.0 and is
    skipped for older versions (read from the ``pw.out`` header).
    """

    handles = frozenset({PwError.DIAGONALIZATION})

    def __init__(
        self,
        algorithms: tuple[str, ...] = ("david", "ppcg", "paro", "cg"),
        max_num_corrections: int = 3,
    ):
        super().__init__(max_num_corrections)
        self.algorithms = tuple(algorithms)
        self._tried: set[str] = set()

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Switch ``diagonalization``; a relaxation restarts from its last structure."""
        pw_input = PwInput.from_directory(directory)
        current = str(pw_input.electrons.get("diagonalization", QE_DEFAULTS["diagonalization"]))
        self._tried.add(current)
        version = PwRunDir(directory).pw_version_number()
        has_paro = version is not None and version >= (7, 0)
        # Onwards from the current algorithm first (the list runs from fast to robust), so a
        # fresh handler in a later run does not fall back to one that already failed.
        start = self.algorithms.index(current) + 1 if current in self.algorithms else 0
        ordered = self.algorithms[start:] + self.algorithms[:start]
        candidates = [
            name for name in ordered if name not in self._tried and (name != "paro" or has_paro)
        ]
        if not candidates:
            return self.corrected(directory, [])
        new = candidates[0]
        self._tried.add(new)
        structure: list[Action] = []
        restart: Changes = {}
        if calculation(pw_input) in IONIC_CALCULATIONS:
            structure, restart = last_structure_actions(directory, pw_input), FROM_SCRATCH
        update = update_action(
            pw_input,
            merge(restart, {"electrons": {"diagonalization": new}}),
            f"diagonalization failed with {current}: switch to {new}",
        )
        return self.corrected(directory, [*structure, update] if update else structure)


class InsufficientBandsHandler(PwErrorHandler):
    """The highest band is occupied: add ``max(nbnd_factor * nbnd, nbnd_minimum)`` bands."""

    handles = frozenset({PwError.INSUFFICIENT_BANDS})

    def __init__(
        self, nbnd_factor: float = 0.05, nbnd_minimum: int = 4, max_num_corrections: int = 3
    ):
        super().__init__(max_num_corrections)
        self.nbnd_factor = nbnd_factor
        self.nbnd_minimum = nbnd_minimum

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Raise ``nbnd`` and restart from the last density (wavefunctions: wrong count)."""
        pw_input = PwInput.from_directory(directory)
        nbnd = number_of_bands(directory, pw_input)
        if nbnd is None:
            return self.corrected(directory, [])
        new = nbnd + max(int(nbnd * self.nbnd_factor), self.nbnd_minimum)
        structure, restart, how = electronic_restart(directory, pw_input, wavefunctions=False)
        update = update_action(
            pw_input,
            merge(restart, {"system": {"nbnd": new}}),
            f"highest band occupied with nbnd={nbnd}: nbnd={new}, restart {how}",
        )
        return self.corrected(directory, [*structure, update] if update else structure)
