"""Fixtures for cluster tests: one local SLURM shared by every pytest-xdist worker.

The shared cluster lives in ``/tmp/htflow-test-slurm`` on ports 16817-16820, away from a
developer's own ``htflow cluster up`` (default ports 6817-6820);
``HTFLOW_TEST_SLURM_STATE`` and ``HTFLOW_TEST_SLURM_PORT`` move it (and
``HTFLOW_TEST_MULTINODE_STATE``/``_PORT`` the multi-node one) for a second checkout. Each
worker registers with :func:`htflow.cluster.local_slurm.shared_cluster`; the cluster comes
up under a file lock and the last worker to finish takes it down.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from htflow.cluster.local_slurm import ClusterStatus, shared_cluster

if TYPE_CHECKING:
    from collections.abc import Iterator

# Another checkout testing on the same machine sets these to keep its clusters apart.
TEST_STATE_DIR = os.environ.get("HTFLOW_TEST_SLURM_STATE", "/tmp/htflow-test-slurm")
TEST_PORT = int(os.environ.get("HTFLOW_TEST_SLURM_PORT", "16817"))
# The multi-node cluster (tests/cluster/test_multinode.py and the agent's node-loss test):
# three namespaced nodes on ports 19817-19820, bridge htf19817br.
MULTINODE_STATE_DIR = os.environ.get("HTFLOW_TEST_MULTINODE_STATE", "/tmp/htflow-test-multinode")
MULTINODE_PORT = int(os.environ.get("HTFLOW_TEST_MULTINODE_PORT", "19817"))
MULTINODE_NODES = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slurm: needs the local single-node SLURM (root, slurm-wlm, munge)"
    )


def slurm_missing_reason(accounting: bool = False) -> str | None:
    """Why SLURM tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the local SLURM runs its daemons as root"
    programs = ["munged", "slurmctld", "slurmd", "sbatch"]
    if accounting:
        programs += ["slurmdbd", "mysqld", "mysql_install_db"]
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        return f"not installed: {', '.join(missing)}"
    return None


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[ClusterStatus]:
    """The shared local SLURM (brought up once, stopped by the last worker)."""
    reason = slurm_missing_reason()
    if reason:
        pytest.skip(reason)
    with shared_cluster(state_dir=TEST_STATE_DIR, port=TEST_PORT) as status:
        yield status


def multinode_missing_reason() -> str | None:
    """Why the multi-node tests cannot run here (no SLURM, no namespaces), or None."""
    from htflow.cluster.node_network import namespace_problem

    return slurm_missing_reason() or namespace_problem()


@pytest.fixture(scope="session")
def multinode_slurm() -> Iterator[ClusterStatus]:
    """The shared three-node SLURM (namespaced nodes), up once for the multi-node tests.

    The tests that use it are marked ``multinode``, which puts them in one xdist group
    (tests/conftest.py), so one worker brings it up and takes it down.
    """
    reason = multinode_missing_reason()
    if reason:
        pytest.skip(reason)
    with shared_cluster(
        state_dir=MULTINODE_STATE_DIR, port=MULTINODE_PORT, nodes=MULTINODE_NODES
    ) as status:
        yield status
