"""Suite-wide test configuration."""

from __future__ import annotations

import pytest


# tryfirst: pytest-xdist reads the xdist_group marks in its own hook, which a conftest hook
# would otherwise follow (it is registered before xdist's worker plugin).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every test that uses the shared local SLURM on one xdist worker, one at a time.

    The test cluster is one node with two cores: two SLURM tests side by side make each
    other's jobs wait in the queue, and the timing checks (sbatch → RUNNING, TIMEOUT) then
    measure the other test rather than the code. The multi-node tests share their own
    cluster (three namespaced nodes, one of which a test kills) on one worker of their own.
    """
    for item in items:
        if item.get_closest_marker("slurm") is not None:
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif item.get_closest_marker("multinode") is not None:
            item.add_marker(pytest.mark.xdist_group("multinode"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Give grouped tests the ``@group`` suffix ``--dist loadgroup`` schedules by.

    pytest-xdist 3.8 writes the suffix to ``item._nodeid``, which pytest 9 no longer reads
    (the id is ``item._id``): every group was silently ignored and grouped tests ran on
    both workers. This adds the suffix when xdist's did not take, before the worker sends
    its ids (xdist's own ``pytest_collection_finish``).
    """
    if not getattr(session.config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in session.items:
        groups = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group") if m.args})
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")  # type: ignore[attr-defined]
