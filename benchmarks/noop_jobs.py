"""A job that does nothing, for the throughput benchmark (importable by worker and agent)."""

from __future__ import annotations

from jobflow import job


@job
def noop(i: int) -> int:
    """Return ``i``."""
    return i
