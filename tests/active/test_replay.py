"""Replays over known ground truth, the random baseline, and GP beating random on a pool."""

from __future__ import annotations

import numpy as np
import pytest

from htflow.active.replay import (
    evaluations_to_find,
    expected_random_evaluations,
    random_evaluations,
    replay,
)
from htflow.active.spec import ActiveSpec, Objective
from htflow.exceptions import InputError

MAXIMIZE = Objective(field="k_vrh", goal="maximize")


def _spec(goal: dict[str, object], batch: int = 1, **extra: object) -> ActiveSpec:
    # no optimizer restarts: the same strategy, five times faster for a test
    fast = {"surrogate": {"options": {"restarts": 0}}}
    return ActiveSpec.model_validate(
        {"objective": goal, "acquisition": {"batch_size": batch}, **fast, **extra}
    )


def _pool(n: int = 50, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 3))
    y = np.exp(-np.sum((x - 0.4) ** 2, axis=1) / 0.5) + 0.3 * x[:, 2]
    return x, y


def test_evaluations_to_find_the_top_k() -> None:
    y = np.array([5.0, 1.0, 4.0, 3.0, 2.0])
    assert evaluations_to_find([1, 0, 4, 2, 3], y, MAXIMIZE, 1) == 2
    assert evaluations_to_find([1, 0, 4, 2, 3], y, MAXIMIZE, 3) == 5
    # infeasible candidates never count as found
    feasible = np.array([False, True, True, True, True])
    assert evaluations_to_find([0, 2, 3, 4], y, MAXIMIZE, 2, feasible) == 3
    # ties at the k-th best: any of them completes the top k
    tied = np.array([1.0, 3.0, 3.0, 3.0])
    assert evaluations_to_find([0, 3, 1], tied, MAXIMIZE, 2) == 3
    with pytest.raises(InputError, match="finds 1 of the top 3"):
        evaluations_to_find([0], y, MAXIMIZE, 3)


def test_random_order_expectation_matches_simulation() -> None:
    assert expected_random_evaluations(45, 1) == 23
    assert expected_random_evaluations(45, 3) == pytest.approx(34.5)
    y = np.arange(30.0)
    simulated = random_evaluations(y, MAXIMIZE, 3, draws=20000, seed=1)
    assert simulated.mean() == pytest.approx(expected_random_evaluations(30, 3), rel=0.01)
    with pytest.raises(InputError):
        expected_random_evaluations(3, 4)


def test_replay_follows_the_stop_rules() -> None:
    x, y = _pool(30)
    spec = _spec({"field": "k_vrh", "goal": "maximize"}, batch=3, budget={"calculations": 10})
    order = replay(spec, x, y, seed=0)
    assert len(order) == 10  # initial 3, then 3, 3 and the last batch cut to 1
    assert len(set(order)) == 10
    flat = _spec(
        {"field": "k_vrh", "goal": "maximize"},
        budget={"calculations": 30},
        stop={"target_value": float(np.sort(y)[-5])},
    )
    stopped = replay(flat, x, y, seed=0)
    assert max(y[stopped]) >= np.sort(y)[-5]  # stopped when a top-5 value came in
    assert len(stopped) < 30
    everything = replay(spec, x, y, seed=0, until="end")
    assert sorted(everything) == list(range(30))


def test_gp_finds_the_top_three_much_faster_than_random() -> None:
    x, y = _pool()
    spec = _spec({"field": "k_vrh", "goal": "maximize"}, budget={"calculations": 1})
    needed = [
        evaluations_to_find(replay(spec, x, y, seed=s, until="top_k", k=3), y, MAXIMIZE, 3)
        for s in range(5)
    ]
    random_mean = expected_random_evaluations(len(y), 3)  # 38.25 for 50
    assert np.median(needed) <= random_mean / 2, (needed, random_mean)


def test_target_goal_replay_beats_random() -> None:
    x, y = _pool(seed=3)
    target = float(np.quantile(y, 0.6))
    goal = Objective(field="band_gap", goal="target", target=target)
    spec = _spec(
        {"field": "band_gap", "goal": "target", "target": target},
        batch=3,
        budget={"calculations": 1},
    )
    needed = [
        evaluations_to_find(replay(spec, x, y, seed=s, until="top_k", k=3), y, goal, 3)
        for s in range(3)
    ]
    assert np.median(needed) <= expected_random_evaluations(len(y), 3) / 2, needed
