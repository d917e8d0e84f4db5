"""When the active loop ends, and how large the next batch may be.

The rules, checked in this order after each finished round:

1. target reached: a feasible result reached ``stop.target_value``;
2. budget spent: the calculations (candidates sent to DFT) or the core-hours ran out;
3. no improvement: the best feasible utility did not rise for ``no_improvement_rounds``
   rounds in a row (CAMD's rule; a round that finds the first feasible result improves);
4. pool exhausted: no candidate is left to propose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from htflow.active.spec import Budget, Objective, StopSpec


class RoundSummary(BaseModel):
    """The state of the loop after one finished round (cumulative numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: int = Field(ge=0, description="Round number, 0 for the initial batch.")
    evaluated: int = Field(
        ge=0, description="Candidates sent to DFT so far, this round's included (count)."
    )
    core_hours: float = Field(0.0, ge=0, description="Core-hours spent so far (core·h).")
    best_utility: float | None = Field(
        None,
        description="Best utility of a feasible result so far (objective units: y, −y or "
        "−|y − target|); None: no feasible result yet.",
    )


def reached_target(best_utility: float | None, objective: Objective, stop: StopSpec) -> bool:
    """Whether the best feasible utility meets ``stop.target_value`` (see StopSpec)."""
    if best_utility is None or stop.target_value is None:
        return False
    if objective.goal == "maximize":
        return best_utility >= stop.target_value
    # minimize: utility −y, so y ≤ v; target: utility −|y − t|, so |y − t| ≤ v
    return -best_utility <= stop.target_value


def _target_message(best_utility: float, objective: Objective, stop: StopSpec) -> str:
    unit = f" {objective.unit}" if objective.unit else ""
    if objective.goal == "maximize":
        return f"target reached: {objective.field} {best_utility:.4g}{unit} ≥ {stop.target_value:g}"
    if objective.goal == "minimize":
        return (
            f"target reached: {objective.field} {-best_utility:.4g}{unit} ≤ {stop.target_value:g}"
        )
    return (
        f"target reached: |{objective.field} − {objective.target:g}| = {-best_utility:.3g}{unit} "
        f"≤ {stop.target_value:g}"
    )


def rounds_without_improvement(history: list[RoundSummary]) -> int:
    """Finished rounds in a row, at the end of history, that did not raise the best utility."""
    count = 0
    for i in range(len(history) - 1, -1, -1):
        current = history[i].best_utility
        before = history[i - 1].best_utility if i > 0 else None
        if current is not None and (before is None or current > before):
            break
        count += 1
    return count


def stop_reason(
    history: list[RoundSummary],
    objective: Objective,
    budget: Budget,
    stop: StopSpec,
    pool_left: int,
) -> str | None:
    """Why the loop ends now (one line), or None to go on.

    Parameters
    ----------
    history
        One summary per finished round, in order.
    objective, budget, stop
        The strategy's goal, limits and stop rules.
    pool_left
        Candidates neither evaluated nor pending (count).
    """
    last = history[-1] if history else None
    if last is not None and reached_target(last.best_utility, objective, stop):
        assert last.best_utility is not None
        return _target_message(last.best_utility, objective, stop)
    calculations, core_hours = budget.calculations, budget.core_hours
    if last is not None and calculations is not None and last.evaluated >= calculations:
        return f"budget spent: {last.evaluated} of {calculations} calculations"
    if last is not None and core_hours is not None and last.core_hours >= core_hours:
        return f"budget spent: {last.core_hours:.3g} of {core_hours:g} core-hours"
    patience = stop.no_improvement_rounds
    if patience is not None and rounds_without_improvement(history) >= patience:
        return f"no improvement in {patience} rounds"
    if pool_left <= 0:
        return "pool exhausted: every candidate was evaluated"
    return None


def batch_allowance(budget: Budget, evaluated: int, batch_size: int, pool_left: int) -> int:
    """Candidates the next batch may hold: batch_size, cut to the calculations budget left
    (``evaluated`` counts the candidates already sent, pending ones included) and the pool."""
    allowance = min(batch_size, pool_left)
    if budget.calculations is not None:
        allowance = min(allowance, budget.calculations - evaluated)
    return max(allowance, 0)
