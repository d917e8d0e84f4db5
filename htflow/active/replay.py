"""Replays of the strategy over recorded ground truth, and the random-order baseline.

A replay runs :func:`htflow.active.learner.propose` round after round, answering each batch
from the recorded values instead of DFT, so it measures the very code the live loop runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from htflow.active.learner import feasible_best, propose
from htflow.active.stopping import RoundSummary, stop_reason
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from htflow.active.spec import ActiveSpec, Objective

ReplayEnd = Literal["stop", "end", "top_k"]


def top_k_threshold(
    y: np.ndarray, objective: Objective, k: int, feasible: np.ndarray | None = None
) -> float:
    """The k-th best utility among feasible candidates (objective units)."""
    utility = objective.utility(np.asarray(y, float))
    mask = np.ones(len(utility), bool) if feasible is None else np.asarray(feasible, bool)
    ranked = np.sort(utility[mask])[::-1]
    if len(ranked) < k:
        raise InputError(f"the pool has {len(ranked)} feasible candidates, fewer than k={k}")
    return float(ranked[k - 1])


def evaluations_to_find(
    order: list[int],
    y: np.ndarray,
    objective: Objective,
    k: int,
    feasible: np.ndarray | None = None,
) -> int:
    """Evaluations (count) until ``order`` has found k of the pool's top-k feasible results.

    Ties at the k-th best count as top-k, so any k of equal-best candidates complete it.

    Raises
    ------
    InputError
        ``order`` ends before it finds them (replay with ``until='top_k'`` or ``'end'``).
    """
    threshold = top_k_threshold(y, objective, k, feasible)
    utility = objective.utility(np.asarray(y, float))
    ok = np.ones(len(utility), bool) if feasible is None else np.asarray(feasible, bool)
    found = 0
    for position, row in enumerate(order, start=1):
        if ok[row] and utility[row] >= threshold:
            found += 1
            if found == k:
                return position
    raise InputError(f"the order finds {found} of the top {k}: replay until='top_k' or 'end'")


def expected_random_evaluations(n: int, k: int) -> float:
    """Expected draws without replacement to find all k marked items of n: k(n + 1)/(k + 1).

    (The largest of k positions drawn uniformly from 1 … n has that expectation.)
    """
    if not 1 <= k <= n:
        raise InputError(f"k={k} must be between 1 and the pool size {n}")
    return k * (n + 1) / (k + 1)


def random_evaluations(
    y: np.ndarray,
    objective: Objective,
    k: int,
    *,
    feasible: np.ndarray | None = None,
    draws: int = 10000,
    seed: int = 0,
) -> np.ndarray:
    """Evaluations to find the top k under ``draws`` seeded random orders (for the spread)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    return np.array(
        [
            evaluations_to_find(list(rng.permutation(n)), y, objective, k, feasible)
            for _ in range(draws)
        ]
    )


def replay(
    spec: ActiveSpec,
    x: np.ndarray,
    y: np.ndarray,
    feasible: np.ndarray | None = None,
    seed: int = 0,
    *,
    until: ReplayEnd = "stop",
    k: int = 3,
    core_hours: np.ndarray | None = None,
) -> list[int]:
    """The evaluation order the strategy produces when DFT answers with ``y``.

    Parameters
    ----------
    spec
        The active strategy.
    x, y
        Features (n, d) and the true objective values (n,), field units.
    feasible
        Whether each candidate meets the constraints (default: all).
    seed
        Seed of the run (initial pick, optimizer restarts).
    until
        'stop': the spec's stop rules and budget end the replay; 'end': run to the end of
        the pool, ignoring them; 'top_k': run until the top k feasible are found.
    k
        For ``until='top_k'``.
    core_hours
        Cost of each candidate (core·h), for a core-hours budget (default: 0 each).
    """
    n = len(y)
    y = np.asarray(y, float)
    ok = np.ones(n, bool) if feasible is None else np.asarray(feasible, bool)
    cost = np.zeros(n) if core_hours is None else np.asarray(core_hours, float)
    if until != "stop":
        # benchmarks: the budget must not end the run first
        spec = spec.model_copy(
            update={"budget": spec.budget.model_copy(update={"calculations": n})}
        )
    threshold = top_k_threshold(y, spec.objective, k, ok) if until == "top_k" else None
    utility = spec.objective.utility(y)
    order: list[int] = []
    observed: dict[int, float] = {}
    known_feasible: dict[int, bool] = {}
    history: list[RoundSummary] = []
    while len(order) < n:
        proposal = propose(
            spec, x, observed, known_feasible, set(), round_index=len(history), seed=seed
        )
        if not proposal.chosen:
            break
        for row in proposal.indices:
            order.append(row)
            observed[row] = float(y[row])
            known_feasible[row] = bool(ok[row])
        history.append(
            RoundSummary(
                round=len(history),
                evaluated=len(order),
                core_hours=float(cost[order].sum()),
                best_utility=feasible_best(spec, observed, known_feasible),
            )
        )
        if threshold is not None:
            found = sum(1 for r in order if ok[r] and utility[r] >= threshold)
            if found >= k:
                break
        elif until == "stop":
            left = n - len(order)
            if stop_reason(history, spec.objective, spec.budget, spec.stop, left):
                break
    return order
