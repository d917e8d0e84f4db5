"""propose: the ask/tell step shared by the live loop and the replays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from htflow.active.learner import Proposal, propose
from htflow.active.spec import ActiveSpec
from htflow.exceptions import InputError


def _spec(batch: int = 3, calculations: int = 30, **acquisition: object) -> ActiveSpec:
    return ActiveSpec.model_validate(
        {
            "objective": {"field": "band_gap", "goal": "target", "target": 1.4},
            "acquisition": {"batch_size": batch, **acquisition},
            "budget": {"calculations": calculations},
        }
    )


def _pool(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (n, 3))
    y = 3 * x[:, 0] + np.sin(4 * x[:, 1])
    return x, y


def test_round_zero_is_a_spread_out_initial_batch() -> None:
    x, _ = _pool()
    proposal = propose(_spec(batch=4), x, {}, {}, set(), round_index=0, seed=3)
    assert proposal.kind == "initial"
    assert len(proposal.indices) == 4
    assert proposal.chosen[0].reason == "initial: random first pick (seed 3)"
    assert proposal.predictions == []
    assert proposal.indices == propose(_spec(4), x, {}, {}, set(), round_index=0, seed=3).indices
    # initial size defaults to max(batch_size, 2)
    assert len(propose(_spec(batch=1), x, {}, {}, set(), round_index=0, seed=0).indices) == 2


def test_a_model_round_records_its_provenance() -> None:
    x, y = _pool()
    observed = {i: float(y[i]) for i in (0, 5, 9, 17)}
    feasible = {0: True, 5: False, 9: True, 17: True}
    proposal = propose(_spec(), x, observed, feasible, {3}, round_index=2, seed=0)
    assert proposal.kind == "model"
    assert proposal.round == 2
    assert proposal.unit == "eV"
    assert proposal.training_indices == [0, 5, 9, 17]
    assert proposal.training_values == [observed[i] for i in (0, 5, 9, 17)]
    assert proposal.training_feasible == [True, False, True, True]
    # the best utility is over feasible results only
    expected = max(-abs(observed[i] - 1.4) for i in (0, 9, 17))
    assert proposal.feasible_best == pytest.approx(expected)
    unobserved = [i for i in range(len(x)) if i not in observed]
    assert [p.index for p in proposal.predictions] == unobserved
    pending = next(p for p in proposal.predictions if p.index == 3)
    assert pending.pending and pending.score is None
    assert all(p.score is not None for p in proposal.predictions if p.index != 3)
    assert proposal.hyperparameters["n_train"] == 4
    for choice in proposal.chosen:
        assert choice.reason.startswith("EI ")
        assert choice.std is not None and choice.std > 0
    restored = Proposal.model_validate(json.loads(json.dumps(proposal.model_dump())))
    assert restored == proposal


def test_observed_and_pending_are_never_chosen() -> None:
    x, y = _pool(12)
    observed = {i: float(y[i]) for i in range(0, 12, 2)}  # 6 observed
    pending = {1, 3, 5}
    for kind in ("ei", "ucb", "greedy"):
        for diversity in ("kriging_believer", "none"):
            spec = _spec(batch=5, kind=kind, diversity=diversity)
            proposal = propose(spec, x, observed, {}, pending, round_index=3, seed=0)
            assert sorted(proposal.indices) == [7, 9, 11], (kind, diversity)
    initial = propose(_spec(batch=5), x, {0: 1.0}, {}, {1, 2}, round_index=0, seed=0)
    assert not set(initial.indices) & {0, 1, 2}
    assert initial.chosen[0].reason.startswith("initial: farthest")


def test_failed_rows_are_never_chosen_and_count_as_spent() -> None:
    x, y = _pool(10)
    observed = {i: float(y[i]) for i in range(4)}
    proposal = propose(
        _spec(batch=5, calculations=8), x, observed, {}, {4}, round_index=2, seed=0, failed=[5, 6]
    )
    assert sorted(proposal.indices) == [7]  # 4 observed + 1 pending + 2 failed of 8
    assert [p.index for p in proposal.predictions] == [4, 7, 8, 9]  # pending 4 included
    assert proposal.training_indices == [0, 1, 2, 3]


def test_the_last_batch_is_cut_to_the_budget() -> None:
    x, y = _pool()
    observed = {i: float(y[i]) for i in range(6)}
    spec = _spec(batch=3, calculations=8)
    assert len(propose(spec, x, observed, {}, set(), round_index=2, seed=0).indices) == 2
    assert propose(spec, x, observed, {}, {6, 7}, round_index=2, seed=0).indices == []


def test_same_inputs_same_batch() -> None:
    x, y = _pool()
    observed = {i: float(y[i]) for i in (1, 2, 30)}
    first = propose(_spec(), x, observed, {}, set(), round_index=1, seed=5)
    again = propose(_spec(), x, observed, {}, set(), round_index=1, seed=5)
    assert first == again


def test_rows_outside_the_pool() -> None:
    x, _ = _pool(5)
    with pytest.raises(InputError, match="row 9 is outside the pool of 5"):
        propose(_spec(), x, {9: 1.0}, {}, set(), round_index=1, seed=0)
