"""Stop rules, in their order, and the last batch cut to the budget."""

from __future__ import annotations

import pytest

from htflow.active.spec import Budget, Objective, StopSpec
from htflow.active.stopping import (
    RoundSummary,
    batch_allowance,
    reached_target,
    rounds_without_improvement,
    stop_reason,
)

GAP = Objective(field="band_gap", goal="target", target=1.4)
BULK = Objective(field="k_vrh", goal="maximize")
HULL = Objective(field="energy_above_hull", goal="minimize")
TEN = Budget(calculations=10)


def _history(*bests: float | None, per_round: int = 2, hours: float = 0.0) -> list[RoundSummary]:
    return [
        RoundSummary(
            round=i, evaluated=per_round * (i + 1), core_hours=hours * (i + 1), best_utility=b
        )
        for i, b in enumerate(bests)
    ]


def test_target_reached_per_goal() -> None:
    tolerance = StopSpec(target_value=0.05)
    assert reached_target(-0.04, GAP, tolerance)  # |y − 1.4| = 0.04 ≤ 0.05
    assert not reached_target(-0.06, GAP, tolerance)
    assert reached_target(250.0, BULK, StopSpec(target_value=250))  # y ≥ 250
    assert not reached_target(249.0, BULK, StopSpec(target_value=250))
    assert reached_target(-0.01, HULL, StopSpec(target_value=0.02))  # y = 0.01 ≤ 0.02
    assert not reached_target(-0.03, HULL, StopSpec(target_value=0.02))
    assert not reached_target(None, GAP, tolerance)
    assert not reached_target(0.0, GAP, StopSpec())


def test_messages() -> None:
    stop = StopSpec(target_value=0.05)
    reached = stop_reason(_history(-0.3, -0.02), GAP, TEN, stop, pool_left=20)
    assert reached == "target reached: |band_gap − 1.4| = 0.02 eV ≤ 0.05"
    spent = stop_reason(_history(-0.3, -0.2, -0.1, -0.09, -0.08), GAP, TEN, stop, 20)
    assert spent == "budget spent: 10 of 10 calculations"
    hours = stop_reason(
        _history(-0.3, -0.2, hours=6.5), GAP, Budget(core_hours=12), StopSpec(), pool_left=20
    )
    assert hours == "budget spent: 13 of 12 core-hours"
    flat = stop_reason(_history(-0.3, -0.3, -0.3, -0.3), GAP, Budget(calculations=50), stop, 20)
    assert flat == "no improvement in 3 rounds"
    empty = stop_reason(_history(-0.3, -0.2), GAP, Budget(calculations=50), stop, pool_left=0)
    assert empty == "pool exhausted: every candidate was evaluated"
    assert stop_reason(_history(-0.3, -0.2), GAP, Budget(calculations=50), stop, 20) is None
    assert stop_reason([], GAP, TEN, stop, 20) is None


def test_the_target_wins_over_the_budget_in_the_same_round() -> None:
    history = _history(-0.3, -0.2, -0.1, -0.09, -0.01)
    assert stop_reason(history, GAP, TEN, StopSpec(target_value=0.05), 20).startswith("target")


def test_no_improvement_counts_rounds_in_a_row() -> None:
    assert rounds_without_improvement(_history(-1.0, -0.5, -0.5, -0.5)) == 2
    assert rounds_without_improvement(_history(-1.0, -0.5, -0.4)) == 0
    # nothing feasible yet: every round is a round without improvement
    assert rounds_without_improvement(_history(None, None)) == 2
    assert rounds_without_improvement(_history(None, -0.5, -0.5)) == 1
    assert rounds_without_improvement([]) == 0
    patient = StopSpec(no_improvement_rounds=None)
    assert (
        stop_reason(_history(-1, -1, -1, -1, -1), GAP, Budget(calculations=99), patient, 5) is None
    )


@pytest.mark.parametrize(
    ("budget", "evaluated", "batch", "left", "expected"),
    [
        (Budget(calculations=10), 8, 3, 20, 2),  # the last batch is cut to the budget
        (Budget(calculations=10), 10, 3, 20, 0),
        (Budget(calculations=10), 12, 3, 20, 0),  # never negative
        (Budget(calculations=10), 0, 3, 2, 2),  # nor more than the pool
        (Budget(core_hours=5.0), 40, 3, 20, 3),  # core-hours do not cut a batch
    ],
)
def test_batch_allowance(
    budget: Budget, evaluated: int, batch: int, left: int, expected: int
) -> None:
    assert batch_allowance(budget, evaluated, batch, left) == expected
