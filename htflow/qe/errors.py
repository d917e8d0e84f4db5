"""Detect what went wrong in a pw.x run directory. Parsing only: no corrections here.

The helper that implements :func:`detect_errors` owns this module; the enum below is
the shared contract between detection (this module) and correction (``handlers``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path


class PwError(str, Enum):
    """Named failure classes of a pw.x run (cf. aiida-quantumespresso's exit codes)."""

    SCF_NOT_CONVERGED = "scf_not_converged"
    DIAGONALIZATION = "diagonalization"
    WALLTIME = "walltime"
    IONIC_NOT_CONVERGED = "ionic_not_converged"
    BFGS_HISTORY_FAILURE = "bfgs_history_failure"
    VC_RELAX_FFT_CONTRACTION = "vc_relax_fft_contraction"
    INSUFFICIENT_BANDS = "insufficient_bands"
    FINAL_SCF_MISMATCH = "final_scf_mismatch"
    KILLED = "killed"
    MISSING_PSEUDO = "missing_pseudo"
    BAD_NAMELIST = "bad_namelist"
    UNKNOWN_CRASH = "unknown_crash"

    @property
    def fatal(self) -> bool:
        """True when no correction can help: the input itself is wrong."""
        return self in FATAL_ERRORS


FATAL_ERRORS = frozenset({PwError.MISSING_PSEUDO, PwError.BAD_NAMELIST, PwError.UNKNOWN_CRASH})


def detect_errors(directory: str | Path = ".") -> set[PwError]:
    """Return the failure classes found in a pw.x run directory (empty when it succeeded)."""
    raise NotImplementedError
