"""What an active campaign's loop did: its rounds, and the best value against the cost.

Read-only, from the agent's records (``htflow.db.active``) through :func:`htflow.db.scan.scan`
(safe while the agent writes). Used by ``htflow status``, ``htflow plot --kind loop`` and
the dashboard's campaign page.

**The curve.** The x axis counts DFT calculations (candidates sent, failed ones included) in
the order the rounds chose them; the y axis is the best *feasible* result so far: the field
itself for ``maximize`` and ``minimize``, the distance |y − target| for ``target`` (smaller is
better), in the field's units.

**The random-order expectation.** Beside it: the expected best of n candidates drawn at
random without replacement from the pool. With the pool's values sorted from best to worst,
the k-th best is the best of the draw with probability C(N−k, n−1) / C(N, n). A live
campaign does not know the pool's values, so it uses the observed value where known and the
last round's surrogate mean elsewhere (unobserved candidates counted feasible), and says so
in the legend. A failed or infeasible candidate never counts as the best: the expectation is
taken over the draws that hold at least one usable value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from typing import TYPE_CHECKING, Any

from htflow.db.active import ACTIVE_CAMPAIGNS_COLLECTION, ACTIVE_ROUNDS_COLLECTION

if TYPE_CHECKING:
    from collections.abc import Sequence

LOOP_FIELDS = ("campaign", "spec", "pool_size", "objective", "unit", "state", "stop_reason")
ROUND_FIELDS = (
    "round",
    "state",
    "chosen",
    "predictions",
    "observations",
    "calculations_used",
    "core_hours_used",
    "best_value",
    "best_label",
    "stop_reason",
)


@dataclass
class LoopView:
    """An active campaign's loop as the reports show it.

    Attributes
    ----------
    campaign, objective, unit
        The campaign, what it optimises ('band_gap closest to 1 eV') and the field's unit.
    goal, target
        ``maximize``, ``minimize`` or ``target``, and the target (field units) for the last.
    pool_size, state, stop_reason
        Candidates in the pool; ``running`` or ``stopped``; why it stopped.
    rounds
        The stored rounds, in order.
    """

    campaign: str
    objective: str
    unit: str
    goal: str
    target: float | None
    pool_size: int
    state: str
    stop_reason: str | None
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per round: round, chosen (label formula), best so far, state, stop reason."""
        out = []
        for doc in self.rounds:
            chosen = ", ".join(f"{c['label']} {c['formula']}" for c in doc.get("chosen") or [])
            best = doc.get("best_value")
            out.append(
                {
                    "round": doc["round"],
                    "chosen": chosen,
                    "best_so_far": best,
                    "best_label": doc.get("best_label"),
                    "calculations": doc.get("calculations_used"),
                    "core_hours": doc.get("core_hours_used"),
                    "state": doc["state"],
                    "stop_reason": doc.get("stop_reason"),
                }
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``htflow status --json``)."""
        return {
            "campaign": self.campaign,
            "objective": self.objective,
            "unit": self.unit,
            "pool_size": self.pool_size,
            "state": self.state,
            "stop_reason": self.stop_reason,
            "rounds": self.rows(),
        }

    def score(self, value: float) -> float:
        """What the curve plots for a value: the value, or |value − target| (field units)."""
        return (
            abs(value - self.target) if self.goal == "target" and self.target is not None else value
        )

    @property
    def lower_is_better(self) -> bool:
        """Whether the plotted quantity improves downwards."""
        return self.goal != "maximize"


def loop_view(campaign: str, uri: str | None = None) -> LoopView | None:
    """The campaign's loop, or None when it is not an active campaign with a recorded pool."""
    from htflow.db.scan import plain, scan

    found = scan(uri, ACTIVE_CAMPAIGNS_COLLECTION, LOOP_FIELDS, {"campaign": campaign})
    if not found:
        return None
    record = {k: plain(v) for k, v in found[0].items()}
    objective = (record.get("spec") or {}).get("active", {}).get("objective", {})
    rounds = [
        {k: plain(v) for k, v in row.items()}
        for row in scan(uri, ACTIVE_ROUNDS_COLLECTION, ROUND_FIELDS, {"campaign": campaign})
    ]
    return LoopView(
        campaign=campaign,
        objective=record.get("objective", ""),
        unit=record.get("unit", ""),
        goal=objective.get("goal", "maximize"),
        target=objective.get("target"),
        pool_size=int(record.get("pool_size") or 0),
        state=record.get("state", "running"),
        stop_reason=record.get("stop_reason"),
        rounds=sorted(rounds, key=lambda r: r["round"]),
    )


@dataclass
class LoopCurve:
    """The plot's data (see the module docstring); scores in field units.

    Attributes
    ----------
    calculations, best
        After the k-th calculation, the best feasible score so far (None: none yet).
    round_starts
        Calculation counts at which each round after the first began.
    random_n, random_best
        n = 1 … pool size and the expected best score of n random draws (None: no draw of
        that size holds a usable value).
    random_basis
        ``observed`` (every usable pool value is known) or ``observed+surrogate``; None when
        no expectation can be drawn (no model round yet and values unknown).
    """

    calculations: list[int]
    best: list[float | None]
    round_starts: list[int]
    random_n: list[int]
    random_best: list[float | None]
    random_basis: str | None


def loop_curve(view: LoopView) -> LoopCurve:
    """The best feasible score against calculations, and the random-order expectation."""
    calculations, best, starts = [], [], []
    observed: dict[int, float | None] = {}
    current: float | None = None
    count = 0
    for doc in view.rounds:
        if count:
            starts.append(count)
        results = {o["index"]: o for o in doc.get("observations") or []}
        for chosen in doc.get("chosen") or []:
            count += 1
            obs = results.get(chosen["index"])
            score = _usable_score(view, obs)
            if obs is not None:
                observed[chosen["index"]] = score
            if score is not None and (
                current is None or (score < current if view.lower_is_better else score > current)
            ):
                current = score
            calculations.append(count)
            best.append(current)
    values, basis = _pool_values(view, observed)
    random_n = list(range(1, view.pool_size + 1))
    random_best: list[float | None] = []
    if values is not None:
        random_best = [expected_best(values, n, view.lower_is_better) for n in random_n]
    return LoopCurve(calculations, best, starts, random_n, random_best, basis)


def _usable_score(view: LoopView, obs: dict[str, Any] | None) -> float | None:
    """The plotted score of a feasible result; None for a failed or infeasible one."""
    if obs is None or obs.get("value") is None or not obs.get("feasible"):
        return None
    return view.score(float(obs["value"]))


def _pool_values(
    view: LoopView, observed: dict[int, float | None]
) -> tuple[list[float | None] | None, str | None]:
    """The pool's scores for the expectation: observed, else the latest surrogate means."""
    means: dict[int, float] = {}
    for doc in view.rounds:  # later rounds overwrite: the latest model wins
        for p in doc.get("predictions") or []:
            means[p["index"]] = view.score(p["mean"])
    values: list[float | None] = []
    for index in range(view.pool_size):
        if index in observed:
            values.append(observed[index])
        elif index in means:
            values.append(means[index])
        else:
            return None, None
    return values, "observed" if len(observed) == view.pool_size else "observed+surrogate"


def expected_best(values: Sequence[float | None], n: int, lower_is_better: bool) -> float | None:
    """Expected best of ``n`` draws without replacement from ``values`` (None: unusable),
    over the draws holding at least one usable value; None when no draw of ``n`` does."""
    total = len(values)
    if not 1 <= n <= total:
        return None
    usable = sorted((v for v in values if v is not None), reverse=not lower_is_better)
    draws = comb(total, n)
    # the k-th best usable value is the draw's best when it is drawn and no better one is
    weights = [comb(total - k, n - 1) / draws for k in range(1, len(usable) + 1)]
    mass = sum(weights)
    if mass <= 0:
        return None
    return sum(w * v for w, v in zip(weights, usable, strict=True)) / mass


__all__ = ["LoopCurve", "LoopView", "expected_best", "loop_curve", "loop_view"]
