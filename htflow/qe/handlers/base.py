"""What every pw.x error handler shares: the choice of handler, actions as data, restarts.

One failed run is corrected by one handler: :data:`PRIORITY` orders the failure classes
and a handler fires only when the first detected class in that order is one it handles
(cf. aiida-quantumespresso, where the first matching process handler breaks the loop).
Two handlers rewriting the same input for one failure would fight over the restart.

A correction is a list of actions (dicts), applied by :func:`apply_actions` and recorded
in ``custodian.json``; replaying the actions on the original input gives the new input.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from custodian.custodian import ErrorHandler

from htflow.qe.errors import PwError, detect_errors
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

    from htflow.qe.pwinput import NamelistValue

Changes = dict[str, dict[str, "NamelistValue | None"]]
Action = dict[str, Any]

PRIORITY: tuple[PwError, ...] = (
    # Fatal first: no point repairing anything else when the input cannot run.
    PwError.MISSING_PSEUDO,
    PwError.BAD_NAMELIST,
    PwError.GHOST_STATE,
    PwError.UNKNOWN_CRASH,
    # The run was interrupted from outside: whatever else it printed is incomplete.
    PwError.WALLTIME,
    PwError.KILLED,
    # A crashed eigensolver leaves every later symptom meaningless.
    PwError.DIAGONALIZATION,
    # Too few bands can be why a metal does not converge: fix the cause first.
    PwError.INSUFFICIENT_BANDS,
    # A relax that stopped on an unconverged scf must fix the scf, not the ionic step.
    PwError.SCF_NOT_CONVERGED,
    PwError.VC_RELAX_FFT_CONTRACTION,
    PwError.BFGS_HISTORY_FAILURE,
    PwError.IONIC_NOT_CONVERGED,
    PwError.FINAL_SCF_MISMATCH,
    # Detected only after an otherwise successful run: the geometry must be settled first.
    PwError.SMEARING_IN_GAP,
)

IONIC_CALCULATIONS = frozenset({"relax", "vc-relax", "md", "vc-md"})
VARIABLE_CELL = frozenset({"vc-relax", "vc-md"})
# Defaults of pw.x 6.7 for the keys the handlers scale (INPUT_PW).
QE_DEFAULTS: dict[str, float | int | str] = {
    "mixing_beta": 0.7,
    "mixing_mode": "plain",
    "electron_maxstep": 100,
    "diagonalization": "david",
    "nstep": 50,  # relax, vc-relax
    "trust_radius_ini": 0.5,  # bohr
    "trust_radius_min": 1.0e-3,  # bohr
    "cell_factor": 2.0,
}


def primary_error(errors: set[PwError]) -> PwError | None:
    """The failure class one correction should address (first in :data:`PRIORITY`)."""
    for error in PRIORITY:
        if error in errors:
            return error
    return None


class PwErrorHandler(ErrorHandler):
    """Base of htflow's pw.x handlers: check() reads :func:`detect_errors`, nothing else.

    Subclasses set :attr:`handles` and implement :meth:`correct`. Escalation state lives
    on the instance; Custodian gets fresh instances for every run.
    """

    handles: ClassVar[frozenset[PwError]] = frozenset()
    is_monitor = False
    raises_runtime_error = True
    # When a handler is out of corrections Custodian would otherwise log a warning and
    # report the failed run as a success.
    raise_on_max = True

    def __init__(self, max_num_corrections: int = 5):
        self.max_num_corrections = max_num_corrections

    def check(self, directory: str | Path = "./") -> bool:
        """True when the failure to correct first is one this handler handles."""
        return primary_error(detect_errors(directory)) in self.handles

    def detected(self, directory: str | Path) -> list[str]:
        """The detected failure classes this handler handles, as strings for the log."""
        errors = detect_errors(directory)
        return [e.value for e in PRIORITY if e in errors and e in self.handles]

    def corrected(
        self, directory: str | Path, actions: list[Action], errors: list[str] | None = None
    ) -> dict[str, Any]:
        """Apply ``actions`` to the run directory and return Custodian's correction dict."""
        if actions:
            apply_actions(directory, actions)
        return {
            "errors": errors if errors is not None else self.detected(directory),
            "actions": actions,
        }


# ---------------------------------------------------------------------------- actions


def update_action(pw_input: PwInput, changes: Changes, reason: str) -> Action | None:
    """An ``update_input`` action with only the keys that really change (None: nothing)."""
    effective: Changes = {}
    for namelist, values in changes.items():
        current = getattr(pw_input, namelist)
        diff = {
            key: value
            for key, value in values.items()
            if (value is None and key in current)
            or (value is not None and current.get(key) != value)
        }
        if diff:
            effective[namelist] = diff
    if not effective:
        return None
    return {"action": "update_input", "changes": effective, "reason": reason}


def structure_action(structure: Structure, reason: str) -> Action:
    """A ``set_structure`` action: lattice (Å, rows) and fractional positions of the sites."""
    return {
        "action": "set_structure",
        "lattice": [[round(float(x), 10) for x in row] for row in structure.lattice.matrix],
        "frac_coords": [[round(float(x), 10) for x in site] for site in structure.frac_coords],
        "reason": reason,
    }


def rerun_action(reason: str) -> Action:
    """Run pw.x again with the input unchanged (Custodian retries only when actions exist)."""
    return {"action": "rerun", "reason": reason}


def apply_actions(directory: str | Path, actions: list[Action]) -> PwInput:
    """Apply recorded actions to ``pw_input.json`` and rewrite ``pw.in``; return the input.

    Raises
    ------
    ValueError
        When an action has an unknown ``action`` type.
    """
    pw_input = PwInput.from_directory(directory)
    for action in actions:
        kind = action.get("action")
        if kind == "update_input":
            pw_input = pw_input.updated(**action["changes"])
        elif kind == "set_structure":
            pw_input = pw_input.model_copy(
                update={"lattice": action["lattice"], "frac_coords": action["frac_coords"]}
            )
        elif kind != "rerun":
            raise ValueError(
                f"unknown handler action {kind!r}: expected update_input, set_structure or rerun"
            )
    pw_input.write(directory)
    return pw_input


# --------------------------------------------------------------------- run directory


def calculation(pw_input: PwInput) -> str:
    """The pw.x ``calculation`` of an input (``scf`` when unset)."""
    return str(pw_input.control.get("calculation", "scf"))


def restart_files_available(directory: str | Path, pw_input: PwInput) -> bool:
    """True when ``restart_mode='restart'`` can continue where pw.x stopped on max_seconds."""
    return PwRunDir(directory).has_charge_density(pw_input.control)


_NBND = re.compile(r"number of Kohn-Sham states=\s*(\d+)")


def number_of_bands(directory: str | Path, pw_input: PwInput) -> int | None:
    """``nbnd`` of the input, or the number of Kohn-Sham states pw.x chose (pw.out)."""
    nbnd = pw_input.system.get("nbnd")
    if isinstance(nbnd, int) and not isinstance(nbnd, bool):
        return nbnd
    matches = _NBND.findall(PwRunDir(directory).output_text() or "")
    return int(matches[-1]) if matches else None


# -------------------------------------------------------------------------- restarts

FROM_SCRATCH: Changes = {
    "control": {"restart_mode": None},
    "electrons": {"startingpot": None, "startingwfc": None},
}
FULL_RESTART: Changes = {
    "control": {"restart_mode": "restart"},
    "electrons": {"startingpot": None, "startingwfc": None},
}


def from_charge_density(directory: str | Path, pw_input: PwInput, wavefunctions: bool) -> Changes:
    """Restart changes reading the last density (and wavefunctions when asked and present)."""
    run = PwRunDir(directory)
    wfc = "file" if wavefunctions and run.has_wavefunctions(pw_input.control) else None
    return {
        "control": {"restart_mode": None},
        "electrons": {"startingpot": "file", "startingwfc": wfc},
    }


def electronic_restart(
    directory: str | Path, pw_input: PwInput, wavefunctions: bool
) -> tuple[list[Action], Changes, str]:
    """How to restart after an electronic failure: structure actions, changes, description.

    An scf continues from its last charge density when pw.x left one. A relaxation
    restarts from scratch at the last structure: the density on disk belongs to an
    earlier geometry (or cell, whose FFT grid may differ).
    """
    if calculation(pw_input) in IONIC_CALCULATIONS:
        return last_structure_actions(directory, pw_input), FROM_SCRATCH, "from the last structure"
    if calculation(pw_input) == "scf" and PwRunDir(directory).has_charge_density(pw_input.control):
        changes = from_charge_density(directory, pw_input, wavefunctions)
        return [], changes, "from the last charge density"
    return [], FROM_SCRATCH, "from scratch (no charge density on disk)"


def last_structure_actions(directory: str | Path, pw_input: PwInput) -> list[Action]:
    """Actions moving the input to the last complete structure pw.x printed (may be none)."""
    from pymatgen.core import Lattice, Structure

    from htflow.qe.outputs import parse_last_structure  # written in parallel: import lazily

    structure = parse_last_structure(directory)
    if structure is None:
        return []
    if [site.specie.symbol for site in structure] != pw_input.symbols:
        return []  # not this input's structure; keep the input's own
    if calculation(pw_input) not in VARIABLE_CELL:
        # The cell is fixed: pw.out prints it only through alat (4 decimals in bohr), so
        # keep the input's exact lattice and take the positions alone.
        structure = Structure(Lattice(pw_input.lattice), pw_input.symbols, structure.frac_coords)
    new = pw_input.with_structure(structure)
    if _same_geometry(new, pw_input):
        return []
    return [structure_action(structure, "restart from the last structure pw.x reached")]


def _same_geometry(a: PwInput, b: PwInput, tol: float = 1e-8) -> bool:
    import numpy as np

    return bool(
        np.allclose(a.lattice, b.lattice, atol=tol)
        and np.allclose(a.frac_coords, b.frac_coords, atol=tol)
    )


def merge(*changes: Changes) -> Changes:
    """Merge namelist changes; later ones win."""
    out: Changes = {}
    for change in changes:
        for namelist, values in change.items():
            out.setdefault(namelist, {}).update(values)
    return out
