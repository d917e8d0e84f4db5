"""The agent's bookkeeping (allocations, launches): moved to :mod:`htflow.db.records`.

They live with the stores so that :mod:`htflow.actions`, which the agent imports to apply
admin requests, can reach them without importing the agent back. This name stays for the
agent's own modules and existing callers.
"""

from __future__ import annotations

from htflow.db.records import (
    ACTIVE_ALLOCATION_STATES,
    ALLOCATIONS,
    COUNTERS,
    LAUNCHES,
    active_allocations,
    add_launch,
    allocations,
    carried_counters,
    ensure_indexes,
    launches,
    next_alloc_id,
    open_launches,
)

__all__ = [
    "ACTIVE_ALLOCATION_STATES",
    "ALLOCATIONS",
    "COUNTERS",
    "LAUNCHES",
    "active_allocations",
    "add_launch",
    "allocations",
    "carried_counters",
    "ensure_indexes",
    "launches",
    "next_alloc_id",
    "open_launches",
]
