"""Where compute jobs run: cluster profiles, job-script rendering, SLURM wrappers, local SLURM."""

from __future__ import annotations

from htflow.cluster.profile import (
    ClusterProfile,
    JobResources,
    ResourceSpec,
    available_profiles,
    load_profile,
)
from htflow.cluster.render import render_job_script, slurm_job_name, write_job_script

__all__ = [
    "ClusterProfile",
    "JobResources",
    "ResourceSpec",
    "available_profiles",
    "load_profile",
    "render_job_script",
    "slurm_job_name",
    "write_job_script",
]
