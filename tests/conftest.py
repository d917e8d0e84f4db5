"""Suite-wide test configuration."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every test that uses the shared local SLURM on one xdist worker, one at a time.

    The test cluster is one node with two cores: two SLURM tests side by side make each
    other's jobs wait in the queue, and the timing checks (sbatch → RUNNING, TIMEOUT) then
    measure the other test rather than the code. The multi-node tests share their own
    cluster (three namespaced nodes) on one worker of their own.
    """
    for item in items:
        if item.get_closest_marker("slurm") is not None:
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif item.get_closest_marker("multinode") is not None:
            item.add_marker(pytest.mark.xdist_group("multinode"))
