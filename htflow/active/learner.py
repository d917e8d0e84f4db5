"""The ask/tell core of the active loop: from what is known, the next batch and why.

:func:`propose` is a pure function of the pool's features, the observed objective values,
their feasibility and the pending candidates, so the live loop (in the agent) and the
replays (benchmarks) run exactly the same strategy, and a round recomputed after a crash
chooses the same batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from htflow.active.acquisition import choose_batch, initial_batch, scores
from htflow.active.stopping import batch_allowance
from htflow.active.surrogate import make_surrogate
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Collection

    from htflow.active.spec import ActiveSpec

MIN_TRAINING = 2


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChosenCandidate(_Record):
    """A candidate the round sends to DFT."""

    index: int = Field(ge=0, description="Row of the candidate in the pool.")
    reason: str = Field(description="Why it was chosen, one sentence (with units).")
    mean: float | None = Field(
        None, description="Predicted objective when chosen (field units); None: initial."
    )
    std: float | None = Field(
        None, description="Predicted standard deviation when chosen (field units)."
    )
    score: float | None = Field(
        None, description="Acquisition value when chosen (objective units); None: initial."
    )


class Prediction(_Record):
    """The surrogate's view of one unobserved candidate before the batch was chosen."""

    index: int = Field(ge=0, description="Row of the candidate in the pool.")
    mean: float = Field(description="Predicted objective (field units).")
    std: float = Field(description="Predicted standard deviation (field units).")
    score: float | None = Field(
        description="Acquisition value (objective units) before any fantasy; None for a "
        "pending candidate (it cannot be chosen)."
    )
    pending: bool = Field(description="Sent to DFT earlier, result not in yet.")


class Proposal(_Record):
    """One round's decision with its provenance; JSON-serialisable (``model_dump``)."""

    round: int = Field(ge=0, description="Round number (0: the initial batch).")
    kind: Literal["initial", "model"] = Field(
        description="'initial': spread-out picks before a model exists; 'model': acquisition."
    )
    field: str = Field(description="The objective's materials field.")
    unit: str = Field(description="Unit of means, standard deviations and scores.")
    seed: int = Field(description="Seed of the initial pick and the optimizer restarts.")
    chosen: list[ChosenCandidate] = Field(description="The batch, in the order chosen.")
    predictions: list[Prediction] = Field(
        default_factory=list, description="Every unobserved candidate (empty for 'initial')."
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="The fitted surrogate's settings (kernel, scales)."
    )
    training_indices: list[int] = Field(
        default_factory=list, description="Pool rows the surrogate was trained on."
    )
    training_values: list[float] = Field(
        default_factory=list, description="Their objective values (field units)."
    )
    training_feasible: list[bool] = Field(
        default_factory=list, description="Whether each training result meets the constraints."
    )
    feasible_best: float | None = Field(
        None, description="Best feasible utility so far (objective units); None: none yet."
    )

    @property
    def indices(self) -> list[int]:
        """Rows of the chosen candidates, in order."""
        return [c.index for c in self.chosen]


def feasible_best(
    spec: ActiveSpec, observed: dict[int, float], feasible: dict[int, bool]
) -> float | None:
    """Best utility (objective units) over observed results that are feasible; None: none."""
    values = [y for i, y in observed.items() if feasible.get(i, True)]
    if not values:
        return None
    return float(np.max(spec.objective.utility(np.array(values))))


def _initial(
    *,
    x_pool: np.ndarray,
    taken: list[int],
    open_rows: list[int],
    size: int,
    seed: int,
) -> list[ChosenCandidate]:
    rows = initial_batch(x_pool, size, seed, chosen=taken, allowed=open_rows)
    out = []
    for k, row in enumerate(rows):
        if k == 0 and not taken:
            reason = f"initial: random first pick (seed {seed})"
        else:
            reason = "initial: farthest in feature space from the candidates chosen before"
        out.append(ChosenCandidate(index=row, reason=reason))
    return out


def propose(
    spec: ActiveSpec,
    x_pool: np.ndarray,
    observed: dict[int, float],
    feasible: dict[int, bool],
    pending: set[int],
    *,
    round_index: int,
    seed: int,
    failed: Collection[int] = (),
) -> Proposal:
    """The next batch for a pool with features ``x_pool`` (rows are candidates).

    Parameters
    ----------
    spec
        The active strategy.
    x_pool
        Features of every candidate, shape (n, d) (``htflow.active.features.featurize``).
    observed
        Row → objective value (field units) of every finished candidate.
    feasible
        Row → whether that result meets the constraints (missing: feasible).
    pending
        Rows sent to DFT whose results are not in yet; with the Kriging believer they are
        fantasy observations at their predicted means.
    round_index
        The round being proposed (0 for the first).
    seed
        Seeds the initial random pick and the surrogate's optimizer.
    failed
        Rows sent to DFT that gave no value (a failed run, a missing field): never chosen
        again, counted as spent calculations, not trained on.

    The batch is ``initial_size`` (round 0) or ``batch_size`` candidates, cut to the
    calculations budget left and to the open candidates; it can be empty. Observed and
    pending rows are never chosen. With fewer than 2 observations the batch is spread out
    by farthest-point sampling; otherwise the surrogate trains on every observed result
    (infeasible ones too) and the acquisition chooses.
    """
    n = len(x_pool)
    closed = set(observed) | set(pending) | set(failed)
    bad = sorted(i for i in closed if not 0 <= i < n)
    if bad:
        raise InputError(f"candidate row {bad[0]} is outside the pool of {n}: check the indices")
    open_rows = [i for i in range(n) if i not in closed]
    size = spec.initial_size() if round_index == 0 else spec.acquisition.batch_size
    size = batch_allowance(spec.budget, len(closed), size, len(open_rows))
    unit = spec.objective.unit
    best = feasible_best(spec, observed, feasible)
    base = {"round": round_index, "field": spec.objective.field, "unit": unit, "seed": seed}
    if len(observed) < MIN_TRAINING:
        taken = sorted(closed)
        chosen = _initial(x_pool=x_pool, taken=taken, open_rows=open_rows, size=size, seed=seed)
        return Proposal(kind="initial", chosen=chosen, feasible_best=best, **base)

    train = sorted(observed)
    x_train = x_pool[train]
    y_train = np.array([observed[i] for i in train], dtype=float)
    surrogate = make_surrogate(spec.surrogate, seed + round_index)
    surrogate.fit(x_train, y_train)
    waiting = sorted(pending)
    unobserved = sorted([*open_rows, *waiting])
    mean, std = surrogate.predict(x_pool[unobserved]) if unobserved else (np.empty(0),) * 2
    at = {row: k for k, row in enumerate(unobserved)}
    open_k = [at[r] for r in open_rows]
    reference = best if best is not None else float(np.max(spec.objective.utility(y_train)))
    open_scores = scores(mean[open_k], std[open_k], spec.objective, spec.acquisition, reference)
    score_of = dict(zip(open_rows, open_scores, strict=True))
    predictions = [
        Prediction(
            index=row,
            mean=float(mean[at[row]]),
            std=float(std[at[row]]),
            score=float(score_of[row]) if row in score_of else None,
            pending=row in pending,
        )
        for row in unobserved
    ]
    model = surrogate
    if waiting and spec.acquisition.diversity == "kriging_believer":
        model = surrogate.condition(x_pool[waiting], mean[[at[r] for r in waiting]])
    choices = []
    if size > 0:
        choices = choose_batch(
            model,
            x_train,
            y_train,
            x_pool[open_rows],
            spec.objective,
            spec=spec.acquisition,
            batch_size=size,
            feasible_best=best,
        )
    chosen = [
        ChosenCandidate(
            index=open_rows[c.index], reason=c.reason, mean=c.mean, std=c.std, score=c.score
        )
        for c in choices
    ]
    return Proposal(
        kind="model",
        chosen=chosen,
        predictions=predictions,
        hyperparameters=surrogate.hyperparameters(),
        training_indices=train,
        training_values=[float(v) for v in y_train],
        training_feasible=[bool(feasible.get(i, True)) for i in train],
        feasible_best=best,
        **base,
    )
