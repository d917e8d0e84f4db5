"""Detect what went wrong in a pw.x run directory. Parsing only: no corrections here.

The enum below is the shared contract between detection (this module) and correction
(``handlers``). Detection reads ``pw.out`` once, line by line, so a 100 MB output costs one
pass; ``CRASH``, ``pw.err``, ``pw.exitcode``, the input (``pw_input.json`` or ``pw.in``)
and, for band occupations only, the XML (:mod:`htflow.qe.occupation_checks`), each where
:class:`~htflow.qe.rundir.PwRunDir` finds it. Missing, truncated or binary files never
raise. A scan is remembered under a digest of those files,
so handlers asking in turn about an unchanged directory cost one hash each, not one scan.
The message strings and criteria follow aiida-quantumespresso's pw.x parser; the
fixtures in ``tests/data/qe_errors`` record what Debian pw.x 6.7 really prints.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from htflow.qe.ghost_states import BandListing, xml_ghost
from htflow.qe.rundir import PwRunDir, iter_lines


class PwError(StrEnum):
    """Named failure classes of a pw.x run (cf. aiida-quantumespresso's exit codes)."""

    SCF_NOT_CONVERGED = "scf_not_converged"
    DIAGONALIZATION = "diagonalization"
    WALLTIME = "walltime"
    IONIC_NOT_CONVERGED = "ionic_not_converged"
    BFGS_HISTORY_FAILURE = "bfgs_history_failure"
    VC_RELAX_FFT_CONTRACTION = "vc_relax_fft_contraction"
    INSUFFICIENT_BANDS = "insufficient_bands"
    FINAL_SCF_MISMATCH = "final_scf_mismatch"
    SMEARING_IN_GAP = "smearing_in_gap"
    GHOST_STATE = "ghost_state"
    KILLED = "killed"
    MISSING_PSEUDO = "missing_pseudo"
    BAD_NAMELIST = "bad_namelist"
    UNKNOWN_CRASH = "unknown_crash"

    @property
    def fatal(self) -> bool:
        """True when no correction can help: the input itself is wrong."""
        return self in FATAL_ERRORS


FATAL_ERRORS = frozenset(
    {PwError.MISSING_PSEUDO, PwError.BAD_NAMELIST, PwError.GHOST_STATE, PwError.UNKNOWN_CRASH}
)

# Substrings of pw.out / CRASH lines, first match wins. "cdiaghg"-family messages come from
# LAXlib and also appear as "problems computing cholesky decomposition" in ptoolkit.
MESSAGES: tuple[tuple[str, PwError], ...] = (
    ("Maximum CPU time exceeded", PwError.WALLTIME),
    ("convergence NOT achieved after", PwError.SCF_NOT_CONVERGED),
    ("history already reset at previous step: stopping", PwError.BFGS_HISTORY_FAILURE),
    ("bfgs failed", PwError.BFGS_HISTORY_FAILURE),
    ("The maximum number of steps has been reached", PwError.IONIC_NOT_CONVERGED),
    ("Not enough space allocated for radial FFT", PwError.VC_RELAX_FFT_CONTRACTION),
    ("problems computing cholesky", PwError.DIAGONALIZATION),
    ("Cholesky failed in", PwError.DIAGONALIZATION),
    ("S matrix not positive definite", PwError.DIAGONALIZATION),
    ("too many bands are not converged", PwError.DIAGONALIZATION),
    ("eigenvectors failed to converge", PwError.DIAGONALIZATION),
    ("zhegvd failed", PwError.DIAGONALIZATION),
    ("[Q, R] = qr(X, 0) failed", PwError.DIAGONALIZATION),
)
# "Error in routine X (N):" in pw.out; "from X : error # N" in CRASH. The routine decides
# fatal input errors; the message on the next line decides everything else.
_ERROR_ROUTINE = re.compile(r"Error in routine\s+(\S+)\s*\((-?\d+)\)|from\s+(\S+)\s*:\s*error\s*#")
_FATAL_ROUTINES = {"readpp": PwError.MISSING_PSEUDO, "read_namelists": PwError.BAD_NAMELIST}
_FLOAT = r"[-+]?\d*\.?\d+(?:[EeDd][-+]?\d+)?"
_FORCE = re.compile(rf"atom\s+\d+\s+type\s+\d+\s+force\s*=\s*({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})")
_PRESSURE = re.compile(rf"P=\s*({_FLOAT})")
_IONIC_CONVERGED = ("bfgs converged in", "Dynamics: convergence achieved")
_FINAL_SCF = "final scf calculation at the relaxed structure"
_INTERESTING = re.compile(
    "|".join(
        re.escape(marker)
        for marker in (
            *(m for m, _ in MESSAGES),
            *_IONIC_CONVERGED,
            "JOB DONE",
            "Self-consistent Calculation",
            "Error in routine",
            "error #",
            "inal scf calculation at the relaxed structure",
            "Forces acting on atoms",
            "P=",
        )
    )
)
# Signals a batch system or the runner use to stop a job, as exit codes (-N or 128+N).
_KILL_SIGNALS = {1, 2, 6, 9, 15, 24}

# Thresholds: pw.x defaults, in pw.x units (Ry/bohr, kbar).
DEFAULT_FORC_CONV_THR = 1.0e-3
DEFAULT_PRESS_CONV_THR = 0.5


@dataclass
class RunScan:
    """What one pass over a run directory found."""

    errors: set[PwError] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)
    crash_message: str = ""
    crash_routine: str = ""


@dataclass
class _OutputState:
    job_done: bool = False
    scf_started: bool = False
    ionic_converged: bool = False
    in_final_scf: bool = False
    collecting_forces: bool = False
    max_force: float | None = None  # of the latest force block (Ry/bohr)
    pressure: float | None = None  # of the latest stress block (kbar)
    relax_force: float | None = None  # last values before the final scf
    relax_pressure: float | None = None
    pending_routine: str | None = None
    hits: list[tuple[PwError | None, str, str]] = field(default_factory=list)


def detect_errors(directory: str | Path = ".") -> set[PwError]:
    """Return the failure classes found in a pw.x run directory (empty when it succeeded).

    Parameters
    ----------
    directory
        A run directory following htflow's conventions (``pw.out``, ``pw.err``,
        ``pw.exitcode``, ``CRASH``, ``pw_input.json`` or ``pw.in``, ``out/pwscf.xml``).
    """
    return scan_run(Path(directory)).errors


def summarize_errors(directory: str | Path = ".") -> list[str]:
    """Return the pw.x lines behind the detected errors, in output order, without repeats."""
    return scan_run(Path(directory)).messages


# Custodian asks every handler in turn, so one directory is scanned ~10 times per check
# round; the last scans are remembered under a digest of the files they read.
_MEMO: OrderedDict[Path, tuple[bytes, RunScan]] = OrderedDict()
_MEMO_SIZE = 8


def scan_run(directory: Path) -> RunScan:
    """Scan ``directory``; unchanged files give a copy of the remembered scan."""
    run = PwRunDir(directory)
    inputs = run.namelists()
    files = [run.output_file, run.crash_file, run.exitcode_file, run.stderr_file]
    files += [run.input_json, run.input_file, run.data_file_xml(inputs.get("control"))]
    digest = _digest(files)
    key = directory.resolve()
    remembered = _MEMO.get(key)
    if remembered is None or remembered[0] != digest:
        remembered = (digest, _scan_files(directory, inputs))
        _MEMO[key] = remembered
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    _MEMO.move_to_end(key)
    scan = remembered[1]
    return RunScan(set(scan.errors), list(scan.messages), scan.crash_message, scan.crash_routine)


def _digest(paths: list[Path]) -> bytes:
    """Digest of the paths' contents (a missing file counts as its own value)."""
    hasher = hashlib.blake2b(digest_size=16)
    for path in paths:
        hasher.update(str(path).encode() + b"\0")
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    hasher.update(chunk)
            hasher.update(b"\1")
        except OSError:
            hasher.update(b"\2")
    return hasher.digest()


def _scan_files(directory: Path, inputs: dict[str, dict[str, Any]]) -> RunScan:
    run = PwRunDir(directory)
    control = inputs.get("control", {})
    calculation = str(control.get("calculation", "scf")).lower()
    state = _OutputState()
    bands = BandListing()
    for line in iter_lines(run.output_file):
        _feed(state, line)
        bands.feed(line)
    crash_exists = run.crash_file.is_file()
    crash_state = _OutputState()
    for line in iter_lines(run.crash_file):
        _feed(crash_state, line)
    exit_code = run.exit_code()

    scan = RunScan()
    seen: set[str] = set()
    for error, line, routine in [*state.hits, *crash_state.hits]:
        if error is not None:
            scan.errors.add(error)
        elif routine:
            scan.errors.add(_FATAL_ROUTINES.get(routine, PwError.UNKNOWN_CRASH))
        if routine and not scan.crash_routine:
            scan.crash_routine, scan.crash_message = routine, line
        if line not in seen:
            seen.add(line)
            scan.messages.append(line)

    electrons = inputs.get("electrons", {})
    accepted_exit_codes = {None, 0}
    if PwError.SCF_NOT_CONVERGED in scan.errors and (
        electrons.get("scf_must_converge") is False or electrons.get("electron_maxstep") == 0
    ):
        scan.errors.discard(PwError.SCF_NOT_CONVERGED)  # the input says this is fine
        accepted_exit_codes.add(2)  # pw.x's exit status for an unconverged scf

    ghost = bands.found or (xml_ghost(run.data_file_xml(control)) if state.job_done else None)
    if ghost:  # a broken pseudopotential: every other symptom follows from it
        scan.errors = {PwError.GHOST_STATE}
        scan.messages.append(ghost)
        return scan
    if calculation in ("relax", "vc-relax") and state.job_done:
        _check_ionic(scan, state, inputs, calculation)
    if state.job_done and not (scan.errors - {PwError.FINAL_SCF_MISMATCH}):
        _check_occupations(scan, run.data_file_xml(control), calculation)

    if not state.job_done and not crash_exists and not scan.errors:
        _classify_abort(scan, state, directory, exit_code)
    elif state.job_done and not scan.errors and exit_code not in accepted_exit_codes:
        scan.errors.add(PwError.UNKNOWN_CRASH)
        scan.messages.append(f"pw.x printed JOB DONE but exited with code {exit_code}")
    elif crash_exists and not scan.errors:
        scan.errors.add(PwError.UNKNOWN_CRASH)
    return scan


def _feed(state: _OutputState, line: str) -> None:
    """Update ``state`` with one output line (the whole per-line cost of detection)."""
    if not (state.pending_routine or state.collecting_forces or _INTERESTING.search(line)):
        return  # one regex scan rejects almost every line of a long output
    stripped = " ".join(line.split())
    if not stripped:
        return
    if state.pending_routine is not None:
        if not stripped.startswith(("%", "task #")):
            routine, state.pending_routine = state.pending_routine, None
            error = next((e for marker, e in MESSAGES if marker in stripped), None)
            state.hits.append((error, stripped, "" if error else routine))
        return
    if "JOB DONE" in line:
        state.job_done = True
        return
    if "Self-consistent Calculation" in line:
        state.scf_started = True
    match = _ERROR_ROUTINE.search(line)
    if match:
        state.pending_routine = match.group(1) or match.group(3)
        return
    for marker, error in MESSAGES:
        if marker in line:
            state.hits.append((error, stripped, ""))
            return
    if any(marker in line for marker in _IONIC_CONVERGED):
        state.ionic_converged = True
    elif _FINAL_SCF in line.lower():
        state.in_final_scf = True
        state.relax_force, state.relax_pressure = state.max_force, state.pressure
        state.max_force = state.pressure = None
    elif "Forces acting on atoms" in line:
        state.max_force, state.collecting_forces = 0.0, True
    elif "Total force" in line:
        state.collecting_forces = False  # decompositions below repeat "atom ... force ="
    elif state.collecting_forces and state.max_force is not None:
        forces = _FORCE.search(line)
        if forces:
            component = max(abs(_to_float(x)) for x in forces.groups())
            state.max_force = max(state.max_force, component)
    elif "P=" in line and "stress" in line:
        pressure = _PRESSURE.search(line)
        if pressure:
            state.pressure = _to_float(pressure.group(1))


def _check_ionic(scan: RunScan, state: _OutputState, inputs: dict, calculation: str) -> None:
    """Relax checks after a clean finish: convergence, BFGS history, final scf (AiiDA-style)."""
    force_thr = float(inputs.get("control", {}).get("forc_conv_thr", DEFAULT_FORC_CONV_THR))
    cell = inputs.get("cell", {})
    press_thr = float(cell.get("press_conv_thr", DEFAULT_PRESS_CONV_THR))
    press = float(cell.get("press", 0.0))
    # a constrained cell makes a pressure threshold meaningless (as in aiida-quantumespresso)
    check_stress = calculation == "vc-relax" and cell.get("cell_dofree", "all") == "all"

    def converged(force: float | None, pressure: float | None) -> bool:
        ok = force is None or force < force_thr
        if check_stress and pressure is not None:
            ok = ok and abs(pressure - press) < press_thr
        return ok

    relax_force = state.relax_force if state.in_final_scf else state.max_force
    relax_pressure = state.relax_pressure if state.in_final_scf else state.pressure
    if PwError.BFGS_HISTORY_FAILURE in scan.errors and converged(relax_force, relax_pressure):
        scan.errors.discard(PwError.BFGS_HISTORY_FAILURE)  # forces already below threshold
    if scan.errors:
        return
    if not state.ionic_converged:
        scan.errors.add(PwError.IONIC_NOT_CONVERGED)
        scan.messages.append("relaxation finished without a convergence message")
    elif state.in_final_scf and not converged(state.max_force, state.pressure):
        scan.errors.add(PwError.FINAL_SCF_MISMATCH)
        scan.messages.append(
            f"final scf exceeds thresholds: max force {state.max_force} Ry/bohr "
            f"(forc_conv_thr {force_thr}), P = {state.pressure} kbar (press {press}, "
            f"press_conv_thr {press_thr})"
        )


def _classify_abort(
    scan: RunScan, state: _OutputState, directory: Path, exit_code: int | None
) -> None:
    """No JOB DONE, no CRASH, no known message: killed, silent LAXlib abort, or unknown."""
    if exit_code is None or exit_code < 0 or (exit_code - 128) in _KILL_SIGNALS:
        scan.errors.add(PwError.KILLED)
        scan.messages.append(
            "pw.x was interrupted: no JOB DONE and no CRASH"
            + ("" if exit_code is None else f" (exit code {exit_code})")
        )
        return
    stderr = " ".join(iter_lines(PwRunDir(directory).stderr_file, limit=200))
    if "MPI_ABORT" in stderr and state.scf_started:
        # LAXlib (dense linear algebra) aborts without errore: no CRASH, and gfortran's
        # buffered stdout loses the message. During the scf that means the subspace
        # diagonalization failed (cdiaghg: S matrix not positive definite, cholesky...).
        scan.errors.add(PwError.DIAGONALIZATION)
        scan.messages.append(f"MPI_ABORT during the scf without CRASH (exit code {exit_code})")
        return
    scan.errors.add(PwError.UNKNOWN_CRASH)
    scan.messages.append(f"pw.x exited with code {exit_code} without JOB DONE or CRASH")


def _check_occupations(scan: RunScan, xml: Path, calculation: str) -> None:
    """Too few bands, else smearing artefacts of a gapped system (from the XML)."""
    # numpy and the XML reader load for a finished run only, not with this module
    from htflow.qe.occupation_checks import smearing_artefact, top_band_occupied

    if top_band_occupied(xml):
        scan.errors.add(PwError.INSUFFICIENT_BANDS)
        scan.messages.append("highest band occupied (XML occupations)")
    elif calculation in ("scf", "relax", "vc-relax") and (artefact := smearing_artefact(xml)):
        # nscf and bands runs take their occupations from the scf they follow
        scan.errors.add(PwError.SMEARING_IN_GAP)
        scan.messages.append(artefact)


def _to_float(text: str) -> float:
    return float(text.replace("D", "E").replace("d", "e"))
