"""How VASP starts: atomate2's ``run_vasp`` under custodian, with htflow's command and walltime.

atomate2 reads the VASP command from its own settings and adds custodian's walltime handler
only when asked. htflow instead takes the command from the cluster profile (``vasp_cmd``,
``vasp_gamma_cmd``, the srun or mpirun launcher) and always adds
:class:`AllocationWalltimeHandler`, which reads the allocation's end (``walltime_end``) when
custodian checks it, on the compute node, so the same serialized Maker works in any allocation.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custodian.vasp.handlers import WalltimeHandler

from htflow.exceptions import InputError
from htflow.settings import get_settings
from htflow.walltime import seconds_left

if TYPE_CHECKING:
    from custodian.custodian import ErrorHandler

    from htflow.cluster.profile import ClusterProfile


class AllocationWalltimeHandler(WalltimeHandler):
    """custodian's WalltimeHandler, bounded by the end of the current allocation.

    custodian's handler fixes the wall time and start time when it is built (and pins the
    start in ``CUSTODIAN_WALLTIME_START`` for the whole process), which is wrong for a Maker
    serialized at submission and for several calculations packed into one allocation. This
    one reads the allocation's end at every check: ``walltime_end`` from the htflow settings,
    else ``$SLURM_JOB_END_TIME``; with neither it never fires. It writes the same STOPCAR
    (``LSTOP``, or ``LABORT`` for ``electronic_step_stop``) when less than
    ``max(3 × slowest step, buffer)`` remains.

    Parameters
    ----------
    buffer_time
        Seconds kept free at the end (s); None uses the ``walltime_margin`` setting.
    electronic_step_stop
        Stop after the current electronic step instead of the current ionic step.
    """

    def __init__(self, buffer_time: float | None = None, electronic_step_stop: bool = False):
        # No super().__init__(): it would read the clock and write CUSTODIAN_WALLTIME_START.
        self.buffer_time = buffer_time
        self.electronic_step_stop = electronic_step_stop
        self.wall_time = None

    def time_left(self) -> float | None:
        """Seconds until the allocation ends, or None when the end is unknown (s)."""
        return seconds_left(0.0, slurm_fallback=True)

    def check(self, directory: str = "./") -> bool:
        """True when the run must stop now to finish inside the allocation."""
        left = self.time_left()
        if left is None:
            return False
        buffer = get_settings().walltime_margin if self.buffer_time is None else self.buffer_time
        return left < max(3 * _slowest_step(directory, self.electronic_step_stop), buffer)


def _slowest_step(directory: str, electronic: bool) -> float:
    """Longest ionic (or electronic) step so far from the OUTCAR timings (s); 0 if unknown."""
    from pymatgen.io.vasp.outputs import Outcar

    try:  # not custodian's load_outcar: its cache would return the OUTCAR of an earlier check
        outcar = Outcar(os.path.join(directory, "OUTCAR"))
    except Exception:  # OUTCAR absent or half written: no timing yet
        return 0.0
    pattern = r"LOOP:.+real time(.+)" if electronic else r"LOOP\+.+real time(.+)"
    outcar.read_pattern({"timings": pattern}, postprocess=float)
    timings = [t[0] for t in outcar.data.get("timings", [])]
    return float(max(timings)) if timings else 0.0


def vasp_command(profile: ClusterProfile, gamma: bool = False, job_type: str | None = None) -> str:
    """The shell command that starts VASP in an allocation of ``profile``.

    Parameters
    ----------
    profile
        The cluster profile; its ``vasp_cmd`` (or ``vasp_gamma_cmd``) is required.
    gamma
        The Γ-only executable (falls back to ``vasp_cmd`` when the profile has none).
    job_type
        Job type used to look up the resource class and so the MPI ranks.
    """
    executable = (profile.vasp_gamma_cmd if gamma else None) or profile.vasp_cmd
    if executable is None:
        raise InputError(
            f"cluster profile {profile.name!r} has no vasp_cmd: set vasp_cmd (and "
            "vasp_gamma_cmd) in its YAML to run VASP"
        )
    argv = shlex.split(executable)
    ranks = profile.resources_for(job_type).ranks_per_calculation
    if profile.mpi_launcher == "srun":
        argv = ["srun", "-n", str(ranks), *profile.mpi_extra_args, *argv]
    elif ranks > 1:  # one rank needs no mpirun (and no MPI start-up time)
        argv = ["mpirun", "-np", str(ranks), *profile.mpi_extra_args, *argv]
    return shlex.join(argv)


def default_handlers() -> list[ErrorHandler]:
    """Fresh instances of atomate2's VASP handlers plus the allocation walltime handler."""
    from atomate2.vasp.run import DEFAULT_HANDLERS

    return [*(type(h)() for h in DEFAULT_HANDLERS), AllocationWalltimeHandler()]


def vasp_run_kwargs(
    profile: ClusterProfile | None = None, job_type: str | None = None, max_errors: int = 5
) -> dict[str, Any]:
    """``run_vasp_kwargs`` for an atomate2 VASP Maker: profile commands, handlers, max errors.

    Parameters
    ----------
    profile
        Cluster profile; default: the ``cluster_profile`` setting.
    job_type
        Job type for the profile's routing (ranks per calculation).
    max_errors
        Most custodian corrections before the run fails (count).
    """
    if profile is None:
        from htflow.cluster.profile import load_profile

        profile = load_profile()
    return {
        "vasp_cmd": vasp_command(profile, job_type=job_type),
        "vasp_gamma_cmd": vasp_command(profile, gamma=True, job_type=job_type),
        "handlers": default_handlers(),
        "max_errors": max_errors,
    }


def run_vasp_htflow(
    directory: str | Path = ".",
    profile: ClusterProfile | None = None,
    job_type: str | None = None,
    max_errors: int = 5,
    **run_vasp_kwargs: Any,
) -> list[dict[str, Any]]:
    """Run VASP in ``directory`` through atomate2's ``run_vasp`` with htflow's command/handlers.

    Returns
    -------
    list of dict
        The custodian corrections of this run (``custodian.json``).
    """
    from atomate2.vasp.run import run_vasp

    kwargs = vasp_run_kwargs(profile, job_type=job_type, max_errors=max_errors)
    kwargs.update(run_vasp_kwargs)
    path = Path(directory)
    cwd = Path.cwd()
    os.chdir(path)  # atomate2's run_vasp and custodian's VaspJob work in the current directory
    try:
        run_vasp(**kwargs)
    finally:
        os.chdir(cwd)
    return read_corrections(path)


def read_corrections(directory: str | Path) -> list[dict[str, Any]]:
    """custodian's corrections in ``directory``: one dict per correction (errors, actions,
    handler), in order; empty when custodian.json is absent (atomate2 gzips it)."""
    import gzip

    path = Path(directory) / "custodian.json"
    if path.is_file():
        runs = json.loads(path.read_text())
    elif path.with_suffix(".json.gz").is_file():
        with gzip.open(path.with_suffix(".json.gz"), "rt") as handle:
            runs = json.load(handle)
    else:
        return []
    return [correction for run in runs for correction in run.get("corrections", [])]
