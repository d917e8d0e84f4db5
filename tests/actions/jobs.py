"""Pure-Python jobs for the action tests (importable by the worker and the agent)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobflow import job


@job
def fail_until(marker: str) -> float:
    """Fails (``ValueError: not ready yet``) until the file ``marker`` exists; then 1.0."""
    if not Path(marker).exists():
        raise ValueError("not ready yet")
    return 1.0


@job
def nap(seconds: float) -> float:
    """Sleeps ``seconds`` (s): a launch that is still running when the test acts."""
    time.sleep(seconds)
    return seconds


@job
def write_pid(path: str) -> int:
    """Writes this process's pid to ``path``, then sleeps until killed (up to 600 s)."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)
    return os.getpid()
