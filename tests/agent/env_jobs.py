"""A job that records the environment it ran with (imported by the worker; no test imports)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobflow import job

ENV_FILE = "job_env.json"


@job
def dump_environment() -> list[str]:
    """Write the job's environment to ``job_env.json`` in the launch directory; return the names."""
    Path(ENV_FILE).write_text(json.dumps(dict(os.environ)))
    return sorted(os.environ)
