"""EI, UCB and greedy on hand-built predictions; the Kriging believer; the initial batch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from htflow.active.acquisition import (
    choose_batch,
    initial_batch,
    scores,
    target_expected_improvement,
    utility_moments,
)
from htflow.active.spec import AcquisitionSpec, Objective
from htflow.active.surrogate import GPSurrogate
from htflow.exceptions import InputError

MAXIMIZE = Objective(field="k_vrh", goal="maximize")
MINIMIZE = Objective(field="energy_above_hull", goal="minimize")
GAP = Objective(field="band_gap", goal="target", target=1.4)
EI, UCB, GREEDY = (
    AcquisitionSpec(kind="ei"),
    AcquisitionSpec(kind="ucb"),
    AcquisitionSpec(kind="greedy"),
)


def test_ei_prefers_higher_mean_then_higher_sigma() -> None:
    mean = np.array([1.0, 2.0, 1.0])
    std = np.array([0.5, 0.5, 1.5])
    ei = scores(mean, std, MAXIMIZE, EI, best=2.5)
    assert ei[1] > ei[0]
    assert ei[2] > ei[1]  # far below the best, only uncertainty can improve
    ei_min = scores(mean, std, MINIMIZE, EI, best=-0.5)  # best utility −0.5: y = 0.5
    assert ei_min[0] > ei_min[1]


def test_ei_matches_its_definition_for_maximize_and_xi() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(1.0, 0.4, 400_000)
    expected = np.maximum(draws - 1.2, 0).mean()
    assert scores(np.array([1.0]), np.array([0.4]), MAXIMIZE, EI, 1.1)[0] == pytest.approx(
        np.maximum(draws - 1.1, 0).mean(), rel=0.02
    )
    xi = AcquisitionSpec(kind="ei", xi=0.1)
    assert scores(np.array([1.0]), np.array([0.4]), MAXIMIZE, xi, 1.1)[0] == pytest.approx(
        expected, rel=0.02
    )


@pytest.mark.parametrize(
    ("mean", "std", "best"),
    [(1.4, 0.2, -0.1), (1.0, 0.3, -0.2), (2.5, 0.5, -0.05), (1.45, 1e-3, -0.1), (0.0, 2.0, -1.0)],
)
def test_target_ei_is_the_exact_expectation(mean: float, std: float, best: float) -> None:
    def integrand(y: float) -> float:
        return max(0.0, -abs(y - 1.4) - best) * norm.pdf(y, mean, std)

    exact, _ = quad(integrand, 1.4 + best, 1.4 - best, points=[1.4], limit=200)
    value = target_expected_improvement(np.array([mean]), np.array([std]), 1.4, best)[0]
    assert value == pytest.approx(exact, rel=1e-6, abs=1e-12)


def test_target_ei_ordering_and_degenerate_cases() -> None:
    ei = scores(np.array([1.4, 1.0, 3.0]), np.array([0.1, 0.1, 0.1]), GAP, EI, best=-0.3)
    assert ei[0] > ei[1] > ei[2]
    assert ei[2] == pytest.approx(0, abs=1e-12)
    # best already hits the target exactly: nothing can improve
    assert target_expected_improvement(np.array([1.4]), np.array([0.5]), 1.4, 0.0)[0] == 0
    # σ → 0: the improvement of the mean itself
    value = target_expected_improvement(np.array([1.5]), np.array([0.0]), 1.4, -0.3)[0]
    assert value == pytest.approx(0.2)


def test_ei_needs_a_best() -> None:
    with pytest.raises(InputError, match="EI needs a best"):
        scores(np.array([1.0]), np.array([0.1]), MAXIMIZE, EI, best=None)


def test_ucb_is_mean_plus_kappa_sigma_in_utility() -> None:
    mean, std = np.array([1.0, 0.8]), np.array([0.1, 0.3])
    np.testing.assert_allclose(scores(mean, std, MAXIMIZE, UCB, None), [1.2, 1.4])
    np.testing.assert_allclose(scores(mean, std, MINIMIZE, UCB, None), [-0.8, -0.2])


def test_ucb_for_a_target_uses_the_folded_normal() -> None:
    rng = np.random.default_rng(1)
    for mean, std in [(1.4, 0.3), (2.0, 0.2), (0.5, 1.0)]:
        draws = -np.abs(rng.normal(mean, std, 400_000) - 1.4)
        centre, spread = utility_moments(np.array([mean]), np.array([std]), GAP)
        assert centre[0] == pytest.approx(draws.mean(), abs=3e-3)
        assert spread[0] == pytest.approx(draws.std(), abs=3e-3)
    ucb = scores(np.array([1.4, 1.4, 3.0]), np.array([0.05, 0.5, 0.05]), GAP, UCB, None)
    assert ucb[1] > ucb[0] > ucb[2]  # uncertainty adds optimism; a sure miss stays last


def test_greedy_ranks_by_predicted_utility() -> None:
    mean, std = np.array([1.3, 1.45, 2.0]), np.array([0.0, 5.0, 0.0])
    np.testing.assert_allclose(scores(mean, std, GAP, GREEDY, None), [-0.1, -0.05, -0.6])
    assert list(scores(mean, std, MINIMIZE, GREEDY, None)) == [-1.3, -1.45, -2.0]


def _clustered() -> tuple[GPSurrogate, np.ndarray, np.ndarray, np.ndarray]:
    """y = cos(1.3 (x − 3.5)) known on both sides of a gap; a tight cluster at the gap's
    peak (rows 0-3), two points at the gap's edges, two far outside."""
    x_train = np.array([0, 0.5, 1, 1.5, 2, 2.5, 4.5, 5, 5.5, 6])[:, None]
    y_train = np.cos(1.3 * (x_train[:, 0] - 3.5))
    gp = GPSurrogate(seed=0)
    gp.fit(x_train, y_train)
    pool = np.array([[3.5], [3.52], [3.54], [3.56], [2.9], [4.1], [7.2], [-1.2]])
    return gp, x_train, y_train, pool


def test_top_k_clusters_and_the_kriging_believer_spreads() -> None:
    gp, x_train, y_train, pool = _clustered()
    best = float(y_train.max())
    in_cluster = {0, 1, 2, 3}

    def batch(diversity: str, size: int) -> list:
        spec = AcquisitionSpec(kind="ei", diversity=diversity, batch_size=size)
        return choose_batch(
            gp, x_train, y_train, pool, MAXIMIZE, spec=spec, batch_size=size, feasible_best=best
        )

    def closest_pair(choices: list) -> float:
        return float(np.min(np.diff(sorted(pool[c.index, 0] for c in choices))))

    top, spread = batch("none", 3), batch("kriging_believer", 3)
    assert {c.index for c in top} <= in_cluster
    assert len({c.index for c in spread} & in_cluster) < 3
    assert max(abs(pool[c.index, 0] - 3.5) for c in spread) > 1  # one pick leaves the cluster
    assert closest_pair(spread) >= 3 * closest_pair(top)
    assert spread[0].index == top[0].index  # the first pick is the same either way
    assert "after 1 believed pick" in spread[1].reason
    pair_top, pair_spread = batch("none", 2), batch("kriging_believer", 2)
    assert {c.index for c in pair_top} == {0, 1}
    assert len({c.index for c in pair_spread} & in_cluster) == 1


def test_reason_names_score_prediction_and_goal() -> None:
    x_train = np.array([[0.0], [1.0], [2.0]])
    y_train = np.array([0.5, 1.2, 2.0])
    gp = GPSurrogate(seed=0)
    gp.fit(x_train, y_train)
    (choice,) = choose_batch(
        gp,
        x_train,
        y_train,
        np.array([[1.2], [5.0]]),
        GAP,
        spec=EI,
        batch_size=1,
        feasible_best=-0.2,
    )
    assert choice.index == 0
    assert choice.reason.startswith(f"EI {choice.score:.3g} eV: predicted {choice.mean:.3g} ± ")
    assert choice.reason.endswith("eV (goal: band_gap closest to 1.4 eV)")


def test_batch_never_exceeds_the_pool() -> None:
    gp, x_train, y_train, pool = _clustered()
    spec = AcquisitionSpec(kind="ucb", batch_size=10)
    chosen = choose_batch(
        gp, x_train, y_train, pool[:3], MAXIMIZE, spec=spec, batch_size=10, feasible_best=None
    )
    assert sorted(c.index for c in chosen) == [0, 1, 2]


def test_initial_batch_is_seeded_and_spread() -> None:
    line = np.concatenate([np.linspace(0, 10, 11), [5.01, 5.02]])[:, None]
    first = initial_batch(line, 3, seed=4)
    assert first == initial_batch(line, 3, seed=4)
    assert len(set(first)) == 3
    # after the random pick, the row farthest from it
    assert first[1] == max(range(len(line)), key=lambda r: abs(line[r, 0] - line[first[0], 0]))
    # given earlier picks: no random pick, the farthest allowed rows
    assert initial_batch(line, 2, seed=0, chosen=[5]) == [0, 10]
    assert initial_batch(line, 2, seed=0, chosen=[5], allowed=[1, 2, 3, 11]) == [1, 3]
    assert initial_batch(line, 5, seed=0, allowed=[2, 3]) in ([2, 3], [3, 2])
    assert initial_batch(line, 0, seed=0) == []
