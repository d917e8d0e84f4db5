"""How long the current allocation has left: the one place that computes it.

The allocation's end is the ``walltime_end`` setting (``HTFLOW_WALLTIME_END``, which every
htflow job script exports); the time kept free at the end is the ``walltime_margin`` setting.
The worker (whether to start a launch), the QE runner and handlers (pw.x's ``max_seconds``)
and the VASP walltime handler all ask here.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from htflow.settings import get_settings

if TYPE_CHECKING:
    from htflow.settings import HtflowSettings

# SLURM exports the job's end time; the VASP handler falls back on it outside htflow's jobs.
SLURM_END_ENV = "SLURM_JOB_END_TIME"


def allocation_end(
    slurm_fallback: bool = False, settings: HtflowSettings | None = None
) -> float | None:
    """Unix time at which the current allocation ends (s); None when unknown (unlimited).

    Parameters
    ----------
    settings
        Settings already read (None: read them now).
    slurm_fallback
        When the setting is unset, take SLURM's ``SLURM_JOB_END_TIME`` (a run inside an
        allocation htflow did not make).
    """
    end = (settings or get_settings()).walltime_end
    if end is None and slurm_fallback and os.environ.get(SLURM_END_ENV, "").isdigit():
        end = float(os.environ[SLURM_END_ENV])
    return end


def seconds_left(
    margin: float | None = None,
    *,
    slurm_fallback: bool = False,
    settings: HtflowSettings | None = None,
) -> float | None:
    """Seconds until the allocation ends, less ``margin`` (s); None when no end is known.

    Parameters
    ----------
    margin
        Seconds kept free at the end (s); None: the ``walltime_margin`` setting.
    slurm_fallback, settings
        As for :func:`allocation_end`.
    """
    settings = settings or get_settings()
    end = allocation_end(slurm_fallback, settings)
    if end is None:
        return None
    kept = settings.walltime_margin if margin is None else margin
    return end - time.time() - kept


__all__ = ["SLURM_END_ENV", "allocation_end", "seconds_left"]
