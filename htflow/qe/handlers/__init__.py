"""Custodian error handlers for pw.x: detection in :mod:`htflow.qe.errors`, corrections here.

Each handler reacts to one or a few :class:`~htflow.qe.errors.PwError` classes, writes an
updated :class:`~htflow.qe.pwinput.PwInput` and returns its actions as data, so
``custodian.json`` is a complete, replayable audit trail (:func:`apply_actions`).

==========================  ==============================================================
handler                     failure classes
==========================  ==============================================================
FatalErrorHandler           missing_pseudo, bad_namelist, unknown_crash (no retry)
WalltimeHandler             walltime
KilledHandler               killed
DiagonalizationHandler      diagonalization
InsufficientBandsHandler    insufficient_bands
ScfConvergenceHandler       scf_not_converged
CellFactorHandler           vc_relax_fft_contraction
BfgsHandler                 bfgs_history_failure
IonicConvergenceHandler     ionic_not_converged
FinalScfHandler             final_scf_mismatch
SmearingHandler             smearing_in_gap
==========================  ==============================================================
"""

from __future__ import annotations

from htflow.qe.handlers.base import PRIORITY, PwErrorHandler, apply_actions, primary_error
from htflow.qe.handlers.electronic import (
    DiagonalizationHandler,
    InsufficientBandsHandler,
    ScfConvergenceHandler,
)
from htflow.qe.handlers.interrupted import (
    FatalErrorHandler,
    GhostStateMonitor,
    KilledHandler,
    WalltimeHandler,
)
from htflow.qe.handlers.ionic import (
    BfgsHandler,
    CellFactorHandler,
    FinalScfHandler,
    IonicConvergenceHandler,
)
from htflow.qe.handlers.smearing import SmearingHandler


def default_pw_handlers() -> list[PwErrorHandler]:
    """Fresh handler instances for one pw.x run, in priority order (fatal first).

    Handlers keep their escalation state on the instance, so a new run must never reuse
    them; this function builds new ones on every call.
    """
    return [
        FatalErrorHandler(),
        GhostStateMonitor(),
        WalltimeHandler(),
        KilledHandler(),
        DiagonalizationHandler(),
        InsufficientBandsHandler(),
        ScfConvergenceHandler(),
        CellFactorHandler(),
        BfgsHandler(),
        IonicConvergenceHandler(),
        FinalScfHandler(),
        SmearingHandler(),
    ]


__all__ = [
    "PRIORITY",
    "BfgsHandler",
    "CellFactorHandler",
    "DiagonalizationHandler",
    "FatalErrorHandler",
    "FinalScfHandler",
    "GhostStateMonitor",
    "InsufficientBandsHandler",
    "IonicConvergenceHandler",
    "KilledHandler",
    "PwErrorHandler",
    "ScfConvergenceHandler",
    "SmearingHandler",
    "WalltimeHandler",
    "apply_actions",
    "default_pw_handlers",
    "primary_error",
]
