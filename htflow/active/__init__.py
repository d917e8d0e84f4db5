"""Active-learning campaigns, the pure core: the ``active`` strategy spec, features, the
surrogate, acquisition, stop rules, the ask/tell step (``propose``) and replays.

No database, no agent: the agent's loop and the benchmarks call :func:`propose` with the
pool's features and what is known so far. See docs/active_learning.md.
"""

from __future__ import annotations

from htflow.active.learner import Proposal, propose
from htflow.active.spec import ActiveSpec, check_objective, check_pool, parse_active

__all__ = ["ActiveSpec", "Proposal", "check_objective", "check_pool", "parse_active", "propose"]
