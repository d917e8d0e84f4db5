"""Job types and the resources they get: which allocation a Firework needs.

The job type of a job is a short name (``small``, ``large`` …) that the cluster profile maps
to resources. It is written into the Firework spec as ``_category`` (so stock FireWorks
workers can filter on it), ``htflow_job_type`` and ``htflow_resources``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError
from htflow.launch.spec import CATEGORY_KEY, JOB_TYPE_KEY, RESOURCES_KEY

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from jobflow import Job

DEFAULT_JOB_TYPE = "small"

# Maker class names (or a part of them) that need a larger allocation; the rest are small.
LARGE_MAKERS = ("Relax",)


def default_job_type(job: Job) -> str:
    """``large`` for DFT relaxations (``RelaxMaker`` and subclasses), ``small`` for everything
    else, ML-potential relaxations included.

    Statics, non-SCF runs and plain Python jobs are small: they are short and pack well.
    """
    maker = job.maker
    if maker is not None and type(maker).__module__.startswith("htflow.ml"):
        return DEFAULT_JOB_TYPE  # an ML-potential relaxation takes seconds: it packs
    names = [cls.__name__ for cls in type(maker).__mro__] if maker is not None else []
    if any(part in name for name in names for part in LARGE_MAKERS):
        return "large"
    return DEFAULT_JOB_TYPE


def routing_spec(
    job: Job,
    job_type_of: Callable[[Job], str] = default_job_type,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The spec entries that route ``job``: its job type and, when given, its resources.

    Raises
    ------
    InputError
        ``resources`` is given and has no entry for the job's type.
    """
    job_type = job_type_of(job)
    spec: dict[str, Any] = {CATEGORY_KEY: job_type, JOB_TYPE_KEY: job_type}
    if resources is not None:
        if job_type not in resources:
            raise InputError(
                f"job {job.name!r} is of type {job_type!r}, which the cluster profile has no "
                f"resources for (it has {sorted(resources)}): add {job_type!r} to the profile"
            )
        spec[RESOURCES_KEY] = dict(resources[job_type])
    return spec
