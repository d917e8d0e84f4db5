"""Scoring candidates from the surrogate's predictions, and choosing a batch.

Scores live in *utility* space, where larger is better (``Objective.utility``: y, −y or
−|y − target|), and carry the objective field's units:

- ``ei``: expected improvement of the utility over the best feasible result so far, plus
  ``xi``. For maximize/minimize the usual closed form; for a target, the exact expectation
  of max(0, −|Y − t| − best) under Y ~ N(μ, σ) (:func:`target_expected_improvement`).
- ``ucb``: mean + κ·standard deviation of the utility. For a target the utility −|Y − t| is
  minus a folded normal, whose mean and standard deviation are exact.
- ``greedy``: the utility of the predicted mean.

A batch is diverse by the Kriging believer (Ginsbourger et al. 2010): after each pick the
surrogate is conditioned on the pick at its predicted mean, which shrinks σ around it, and
the rest are re-scored; ``diversity: none`` takes the top scores as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import norm
from sklearn.preprocessing import StandardScaler

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from htflow.active.spec import AcquisitionSpec, Objective
    from htflow.active.surrogate import Surrogate

# below this σ a prediction is treated as exact (field units); keeps the formulas finite
TINY_STD = 1e-12


@dataclass
class Choice:
    """One candidate chosen for DFT.

    Attributes
    ----------
    index
        Row of the candidate in the pool.
    score
        Its acquisition value when it was picked (objective units; None for initial picks).
    mean, std
        Predicted objective and its standard deviation then (field units; None initially).
    reason
        One sentence saying why, e.g. 'EI 0.12 eV: predicted 1.35 ± 0.20 eV (goal: …)'.
    """

    index: int
    score: float | None
    mean: float | None
    std: float | None
    reason: str


def _expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(0, U − best)] for U ~ N(mean, std)."""
    std = np.maximum(std, TINY_STD)
    z = (mean - best) / std
    return np.maximum((mean - best) * norm.cdf(z) + std * norm.pdf(z), 0.0)


def target_expected_improvement(
    mean: np.ndarray, std: np.ndarray, target: float, best: float
) -> np.ndarray:
    """E[max(0, −|Y − target| − best)] for Y ~ N(mean, std); best ≤ 0 is a utility.

    The improvement is r − |Y − t| on t − r < Y < t + r with r = −best, zero elsewhere; on
    each half the integral of a linear function against the normal density is closed form:
    ∫ₐᵇ p = Φ(β) − Φ(α) and ∫ₐᵇ y p = μ(Φ(β) − Φ(α)) + σ(φ(α) − φ(β)).
    """
    mean = np.asarray(mean, float)
    std = np.maximum(np.asarray(std, float), TINY_STD)
    radius = -best
    if radius <= 0:
        return np.zeros_like(mean)

    def pieces(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        a, b = (low - mean) / std, (high - mean) / std
        mass = norm.cdf(b) - norm.cdf(a)
        return mass, mean * mass + std * (norm.pdf(a) - norm.pdf(b))

    mass_low, first_low = pieces(target - radius, target)
    mass_high, first_high = pieces(target, target + radius)
    value = (radius - target) * mass_low + first_low + (radius + target) * mass_high - first_high
    return np.maximum(value, 0.0)


def utility_moments(
    mean: np.ndarray, std: np.ndarray, objective: Objective
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the utility when Y ~ N(mean, std) (field units)."""
    mean = np.asarray(mean, float)
    std = np.asarray(std, float)
    if objective.goal != "target":
        return objective.utility(mean), std
    assert objective.target is not None
    d = mean - objective.target
    s = np.maximum(std, TINY_STD)
    folded = s * np.sqrt(2 / np.pi) * np.exp(-(d**2) / (2 * s**2)) + d * (1 - 2 * norm.cdf(-d / s))
    variance = np.maximum(d**2 + std**2 - folded**2, 0.0)
    return -folded, np.sqrt(variance)


def scores(
    mean: np.ndarray,
    std: np.ndarray,
    objective: Objective,
    spec: AcquisitionSpec,
    best: float | None,
) -> np.ndarray:
    """Acquisition values (larger is better, field units) of predictions (mean, std).

    ``best`` is the best utility observed so far; EI needs it (None: EI is not defined,
    InputError).
    """
    mean = np.asarray(mean, float)
    std = np.asarray(std, float)
    if spec.kind == "greedy":
        return objective.utility(mean)
    if spec.kind == "ucb":
        centre, spread = utility_moments(mean, std, objective)
        return centre + spec.kappa * spread
    if best is None:
        raise InputError("EI needs a best result to improve on: observe a candidate first")
    threshold = best + spec.xi
    if objective.goal == "target":
        assert objective.target is not None
        return target_expected_improvement(mean, std, objective.target, threshold)
    return _expected_improvement(objective.utility(mean), std, threshold)


def _reason(
    *, kind: str, score: float, mean: float, std: float, objective: Objective, believed: int
) -> str:
    unit = f" {objective.unit}" if objective.unit else ""
    label = {"ei": "EI", "ucb": "UCB", "greedy": "greedy utility"}[kind]
    after = f", after {believed} believed pick{'s' if believed > 1 else ''}" if believed else ""
    return (
        f"{label} {score:.3g}{unit}: predicted {mean:.3g} ± {std:.2g}{unit} "
        f"(goal: {objective.describe()}{after})"
    )


def choose_batch(
    surrogate: Surrogate,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_pool: np.ndarray,
    objective: Objective,
    *,
    spec: AcquisitionSpec,
    batch_size: int,
    feasible_best: float | None,
) -> list[Choice]:
    """Choose ``batch_size`` rows of ``x_pool`` (every row is a candidate still open).

    Parameters
    ----------
    surrogate
        A surrogate trained on (x_train, y_train).
    x_train, y_train
        Its training features and objective values (field units), for the record of how
        the fantasies extend it.
    x_pool
        Features of the candidates to choose from.
    objective, spec
        The goal and the acquisition settings (kind, κ, ξ, diversity).
    batch_size
        How many to choose (at most len(x_pool)).
    feasible_best
        Best utility among feasible observed results (field units); None: none feasible
        yet, and EI improves on the best utility of any training value instead.
    """
    del x_train  # the surrogate already holds its training set; kept for the interface
    batch_size = min(batch_size, len(x_pool))
    best = feasible_best
    if best is None and len(y_train):
        best = float(np.max(objective.utility(np.asarray(y_train, float))))

    def choice(row: int, score: float, mean: float, std: float, believed: int) -> Choice:
        reason = _reason(
            kind=spec.kind, score=score, mean=mean, std=std, objective=objective, believed=believed
        )
        return Choice(row, float(score), float(mean), float(std), reason)

    if spec.diversity == "none":
        mean, std = surrogate.predict(x_pool)
        values = scores(mean, std, objective, spec, best)
        # stable sort: ties go to the lowest row
        top = np.argsort(-values, kind="stable")[:batch_size]
        return [choice(int(r), values[r], mean[r], std[r], 0) for r in top]

    open_rows = list(range(len(x_pool)))
    chosen: list[Choice] = []
    model = surrogate
    while len(chosen) < batch_size:
        mean, std = model.predict(x_pool[open_rows])
        values = scores(mean, std, objective, spec, best)
        pick = int(np.argmax(values))  # ties: the lowest row
        row = open_rows.pop(pick)
        chosen.append(choice(row, values[pick], mean[pick], std[pick], len(chosen)))
        if len(chosen) < batch_size:
            fantasy = np.array([mean[pick]])
            model = model.condition(x_pool[[row]], fantasy)
            if best is not None:
                best = max(best, float(objective.utility(fantasy)[0]))
    return chosen


def initial_batch(
    x_pool: np.ndarray,
    size: int,
    seed: int,
    *,
    chosen: list[int] | None = None,
    allowed: list[int] | None = None,
) -> list[int]:
    """A spread-out first batch: farthest-point sampling in standardised feature space.

    The first pick is random (``seed``) unless ``chosen`` already holds rows (then every
    pick is the allowed row farthest from all chosen so far). ``allowed`` restricts the
    picks (default: every row); ties go to the lowest row.
    """
    n = len(x_pool)
    allowed = list(range(n)) if allowed is None else sorted(allowed)
    taken = list(chosen or [])
    size = min(size, len(allowed))
    if size <= 0:
        return []
    scaled = StandardScaler().fit_transform(np.asarray(x_pool, float))
    picks: list[int] = []
    if not taken:
        first = allowed[int(np.random.default_rng(seed).integers(len(allowed)))]
        picks.append(first)
        taken.append(first)
    candidates = [r for r in allowed if r not in taken]
    distance = np.min(
        np.linalg.norm(scaled[candidates][:, None, :] - scaled[taken][None, :, :], axis=2), axis=1
    )
    while len(picks) < size and candidates:
        k = int(np.argmax(distance))
        row = candidates.pop(k)
        distance = np.delete(distance, k)
        picks.append(row)
        if candidates:
            distance = np.minimum(
                distance, np.linalg.norm(scaled[candidates] - scaled[row], axis=1)
            )
    return picks
