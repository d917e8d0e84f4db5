"""The allocation a worker runs in, as SLURM sees it from inside the job.

A calculation can fail because its allocation is going away rather than because of its
input: a node of the allocation died (SLURM ends the job NODE_FAIL, and ``srun`` reports
``Node failure on <node>`` for the step that ran there), or the job is being cancelled or
timed out. Such a failure must be requeued, not recorded as the calculation's. The worker
asks SLURM once, after a calculation failed, whether its job still runs
(:func:`allocation_ended`). This talks only to SLURM (``squeue``), never to the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

# SLURM's own variable (no htflow setting): which allocation this process runs in.
SLURM_JOB_ID_ENV = "SLURM_JOB_ID"


def slurm_job_id() -> str | None:
    """The SLURM job id of the allocation this process runs in, or None outside SLURM."""
    return os.environ.get(SLURM_JOB_ID_ENV)


def allocation_ended(tries: int = 3, pause: float = 1.0) -> str | None:
    """SLURM's state of this allocation when it no longer runs (``NODE_FAIL``…), else None.

    None also when there is no allocation or SLURM cannot be asked (``tries`` times,
    ``pause`` s apart): the failure is then taken as the calculation's own, as without
    this check. An unanswered question is asked again because the answer often fails for
    the very reason asked about: SLURM, ending the job, signals its processes one by one,
    and ``squeue`` may be killed before the worker that started it (which then dies in
    the pause, before it records anything).
    """
    job_id = slurm_job_id()
    if not job_id or shutil.which("squeue") is None:
        return None
    argv = ["squeue", "-h", "--states=all", f"--jobs={job_id}", "-o", "%T"]
    for attempt in range(tries):
        if attempt:
            time.sleep(pause)
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        state = result.stdout.strip()
        if result.returncode == 0 and state:
            return None if state == "RUNNING" else state
    return None
