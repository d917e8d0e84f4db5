"""Handlers for runs stopped from outside (walltime, signals) and for fatal input errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.qe.errors import FATAL_ERRORS, PwError
from htflow.qe.handlers.base import (
    FROM_SCRATCH,
    FULL_RESTART,
    IONIC_CALCULATIONS,
    Action,
    Changes,
    PwErrorHandler,
    apply_actions,
    calculation,
    from_charge_density,
    last_structure_actions,
    merge,
    rerun_action,
    restart_files_available,
    update_action,
)
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir
from htflow.walltime import seconds_left

if TYPE_CHECKING:
    from pathlib import Path

RESTARTABLE = frozenset({"scf", "relax", "vc-relax", "md", "vc-md"})


class FatalErrorHandler(PwErrorHandler):
    """Missing pseudopotential, bad namelist, ghost state, unknown crash: no retry can help.

    Returns no actions, so Custodian raises ``NonRecoverableError`` at once.
    """

    handles = FATAL_ERRORS

    def __init__(self, max_num_corrections: int = 1):
        super().__init__(max_num_corrections)

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Name the fatal errors; no actions."""
        return self.corrected(directory, [])


class GhostStateMonitor(FatalErrorHandler):
    """Stops pw.x while it runs as soon as pw.out's band listing shows a ghost state.

    A monitor (Custodian checks it every 10 s while pw.x runs, see ``run_pw``): a broken
    pseudopotential would otherwise run a whole vc-relax to a meaningless end. Custodian
    terminates the run, :class:`FatalErrorHandler` then names the error and no retry follows.
    Runs with 100 or more k-points print no band listing; their ghost is found in the XML
    when they end.
    """

    handles = frozenset({PwError.GHOST_STATE})
    is_monitor = True


class WalltimeHandler(PwErrorHandler):
    """pw.x stopped cleanly on ``max_seconds``: continue with ``restart_mode='restart'``.

    ``max_seconds`` is bounded again by the allocation's remaining time (settings
    ``walltime_end`` minus ``walltime_margin``) and removed when no end is known. When
    less than ``min_seconds`` remain, the input is still prepared for the restart (listed
    under ``prepared_for_next_run``) but no action is returned: Custodian stops and the
    next allocation continues the calculation.
    """

    handles = frozenset({PwError.WALLTIME})

    def __init__(self, min_seconds: float = 60.0, max_num_corrections: int = 10):
        super().__init__(max_num_corrections)
        self.min_seconds = min_seconds

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Prepare the restart and bound it by the remaining time."""

        pw_input = PwInput.from_directory(directory)
        structure: list[Action] = []
        restart: Changes
        if calculation(pw_input) in RESTARTABLE and restart_files_available(directory, pw_input):
            restart, how = FULL_RESTART, "restart_mode='restart'"
        elif calculation(pw_input) in IONIC_CALCULATIONS:
            structure = last_structure_actions(directory, pw_input)
            restart, how = FROM_SCRATCH, "from the last structure (no restart files)"
        else:
            restart, how = FROM_SCRATCH, "from scratch (no restart files)"
        remaining = seconds_left()
        if remaining is None:
            bound: float | None = None
            reason = f"stopped on max_seconds, no allocation end set: continue {how}, no bound"
        else:
            bound = float(int(remaining))
            reason = f"stopped on max_seconds: continue {how} within {bound:.0f} s"
        update = update_action(
            pw_input, merge(restart, {"control": {"max_seconds": bound}}), reason
        )
        actions = [*structure, update] if update else structure
        if bound is not None and bound < self.min_seconds:
            next_run = [*structure]
            prepared = update_action(
                pw_input,
                merge(restart, {"control": {"max_seconds": None}}),
                f"continue {how} in the next allocation",
            )
            if prepared is not None:
                next_run.append(prepared)
            if next_run:
                apply_actions(directory, next_run)
            out = self.corrected(
                directory,
                [],
                errors=[
                    *self.detected(directory),
                    f"no time left in this allocation ({bound:.0f} s < {self.min_seconds:.0f} s):"
                    " the next allocation continues",
                ],
            )
            out["prepared_for_next_run"] = next_run
            return out
        if not actions:
            actions = [rerun_action(f"{reason}: input already prepared")]
        return self.corrected(directory, actions)


class KilledHandler(PwErrorHandler):
    """pw.x died without a message (signal, node failure, out of memory).

    The 1st correction restarts an scf from its last charge density when a complete one
    is on disk, a relaxation from its last structure; later corrections restart from
    scratch (the density may be what the crash left half-written or what keeps failing).
    """

    handles = frozenset({PwError.KILLED})

    def __init__(self, max_num_corrections: int = 2):
        super().__init__(max_num_corrections)
        self._calls = 0

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Restart as described above."""
        self._calls += 1
        pw_input = PwInput.from_directory(directory)
        structure: list[Action] = []
        if calculation(pw_input) in IONIC_CALCULATIONS:
            structure = last_structure_actions(directory, pw_input)
            restart, how = FROM_SCRATCH, "from the last structure"
        elif (
            self._calls == 1
            and calculation(pw_input) == "scf"
            and PwRunDir(directory).has_charge_density(pw_input.control)
        ):
            restart, how = (
                from_charge_density(directory, pw_input, wavefunctions=False),
                ("from the last charge density"),
            )
        else:
            restart, how = FROM_SCRATCH, "from scratch"
        reason = f"pw.x was killed (correction {self._calls}): restart {how}"
        update = update_action(pw_input, restart, reason)
        actions = [*structure, update] if update else structure
        return self.corrected(directory, actions or [rerun_action(reason)])
