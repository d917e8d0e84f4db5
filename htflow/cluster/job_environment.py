"""The environment a compute job starts with: an allowlist, never the agent's whole environment.

The agent's environment holds secrets (the database URI, the dashboard password, API keys
of data services, cloud credentials). A compute job needs none of them, so ``sbatch`` runs
with :func:`submit_environment`, which holds only

- the variables listed here (:data:`JOB_VARIABLES`, :data:`JOB_PREFIXES` and the htflow
  settings in :data:`JOB_SETTINGS`): what the worker, pw.x and MPI need;
- the names the cluster profile lists in ``inherit_environment`` (e.g. a licence server);
- ``SLURM_CONF`` and sbatch's own ``SBATCH_*`` options, so sbatch still finds its cluster;

and ``sbatch --export=ALL`` hands exactly that environment to the job. Why not
``--export=<names>`` with the agent's environment: for a list (or ``NONE``) SLURM also
loads the user's login environment into the job (``su - <user>``, measured on SLURM
22.05), and sets ``SLURM_EXPORT_ENV`` to the list, so ``srun`` steps inside the job would
lose what the job script exported. With a clean environment and ``ALL`` the job holds the
allowlist, SLURM's ``SLURM_*`` variables and what the job script exports, and ``srun``
steps inherit the job's environment as usual.

No name that looks like a secret (:data:`~htflow.cluster.profile.SECRET_NAME`) or is a
database URI passes, whichever list it came from.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from htflow.cluster.profile import SECRET_NAME
from htflow.settings import CONFIG_FILE_ENV

if TYPE_CHECKING:
    from collections.abc import Mapping

    from htflow.cluster.profile import ClusterProfile

# Never passed to a job, whatever list names them (SECRET_NAME catches most of them too).
DENIED_VARIABLES = ("HTFLOW_DB_URI", "MONGODB_URI", "HTFLOW_DASHBOARD_PASSWORD")
JOB_VARIABLES = (
    # The user and the shell; PATH finds pw.x, mpirun and module-less installs.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
    "LANG",
    "LANGUAGE",
    # Libraries outside the system paths (a self-built QE or MPI), htflow from a checkout,
    # the module search path a site or user extended.
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "MODULEPATH",
    "OMP_NUM_THREADS",
    # pymatgen's POTCAR root: VASP inputs are written inside the job.
    "PMG_VASP_PSP_DIR",
)
# Locale categories, and OpenMPI's run-as-root switches and MCA parameters (the Makefile
# exports them; the local profile's job script sets the first two itself).
JOB_PREFIXES = ("LC_", "OMPI_ALLOW_RUN_AS_ROOT", "OMPI_MCA_")
# htflow settings the compute side reads (launch, qe, vasp) that the job script does not set
# from the profile: the home with the registered pseudo families, the settings file, the
# default pseudo family, the QE post-processing executables, the correction limit.
JOB_SETTINGS = ("home", "pseudo_family", "dos_cmd", "projwfc_cmd", "max_corrections")
# What sbatch itself needs that the job does not: its cluster and its own input options.
SBATCH_VARIABLES = ("SLURM_CONF",)
SBATCH_PREFIXES = ("SBATCH_",)


def is_denied(name: str) -> bool:
    """Whether ``name`` may never reach a compute job (a secret's or a database URI's name)."""
    return name in DENIED_VARIABLES or SECRET_NAME.search(name) is not None


def job_variable_names(profile: ClusterProfile | None = None) -> tuple[str, ...]:
    """The exact names a job may take from the submitting environment (prefixes aside)."""
    settings = tuple(f"HTFLOW_{name.upper()}" for name in JOB_SETTINGS)
    inherited = tuple(profile.inherit_environment) if profile is not None else ()
    return (*JOB_VARIABLES, *settings, CONFIG_FILE_ENV, *inherited)


def job_environment(
    profile: ClusterProfile | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowlisted part of ``environ`` (default ``os.environ``) a compute job starts with.

    Parameters
    ----------
    profile
        Adds the names in its ``inherit_environment``; None adds none.
    environ
        The submitting environment.
    """
    source = os.environ if environ is None else environ
    names = set(job_variable_names(profile))
    return {
        key: value
        for key, value in source.items()
        if (key in names or key.startswith(JOB_PREFIXES)) and not is_denied(key)
    }


def submit_environment(
    profile: ClusterProfile | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment ``sbatch`` runs with: :func:`job_environment` plus sbatch's own needs.

    ``SLURM_CONF`` and ``SBATCH_*`` reach the job too (sbatch exports its environment);
    they name the cluster and sbatch options, never secrets.
    """
    source = os.environ if environ is None else environ
    env = job_environment(profile, source)
    for key, value in source.items():
        if (key in SBATCH_VARIABLES or key.startswith(SBATCH_PREFIXES)) and not is_denied(key):
            env[key] = value
    return env
