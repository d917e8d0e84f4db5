"""Pure-Python jobs for the browser tests (importable by the worker and the agent)."""

from __future__ import annotations

import time
from pathlib import Path

from jobflow import job


@job
def nap(seconds: float) -> float:
    """Sleeps ``seconds`` (s); returns them, so another nap can depend on this one."""
    time.sleep(seconds)
    return seconds


@job
def fail_until(marker: str) -> str:
    """Fails (``ValueError: not ready yet``) until the file ``marker`` exists."""
    if not Path(marker).exists():
        raise ValueError("not ready yet")
    return "ready"
