"""``htflow plot --campaign C --kind loop``: the active loop's best value against its cost.

The best feasible result after each DFT calculation (a step line, a dotted line where each
round began) beside the expected best of the same number of candidates taken in random
order (:mod:`htflow.reports.active_loop` says how it is computed and from what).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.ticker import MaxNLocator

from htflow.reports.active_loop import loop_curve, loop_view
from htflow.reports.plots import PlotDataError, _figure, _save

if TYPE_CHECKING:
    from pathlib import Path

RANDOM_LABELS = {
    "observed": "random order, expected (every pool value observed)",
    "observed+surrogate": "random order, expected (observed values; surrogate means elsewhere)",
}


def plot_loop(campaign: str, out_dir: Path, db_uri: str | None = None) -> Path:
    """``<campaign>_loop.png``: best feasible value against DFT calculations, and random."""
    view = loop_view(campaign, db_uri)
    if view is None:
        raise PlotDataError(
            f"campaign {campaign!r} has no active loop (strategy: active, with its pool job "
            "completed): --kind loop plots active campaigns only"
        )
    curve = loop_curve(view)
    if not curve.calculations:
        raise PlotDataError(f"campaign {campaign!r} has no round yet: nothing to plot")
    fig = _figure()
    fig.set_size_inches(7, 4.5)
    ax = fig.add_subplot()
    found = [(x, y) for x, y in zip(curve.calculations, curve.best, strict=True) if y is not None]
    if found:
        xs, ys = zip(*found, strict=True)
        ax.step(xs, ys, where="post", marker="o", color="tab:blue", label="found by the loop")
    for start in curve.round_starts:
        ax.axvline(start + 0.5, color="grey", lw=0.6, ls=":")
    random = [
        (n, y) for n, y in zip(curve.random_n, curve.random_best, strict=True) if y is not None
    ]
    if random and curve.random_basis is not None:
        xs, ys = zip(*random, strict=True)
        ax.plot(xs, ys, ls="--", color="tab:orange", label=RANDOM_LABELS[curve.random_basis])
    unit = f" ({view.unit})" if view.unit else ""
    field = view.objective.split(" ")[0]
    if view.goal == "target":
        ax.set_ylabel(f"|{field} − {view.target:g}| of the best{unit}")
    else:
        ax.set_ylabel(f"best {field}{unit}")
    ax.set_xlabel("DFT calculations (candidates sent, failures included)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, max(view.pool_size, curve.calculations[-1]) + 0.5)
    state = f"stopped: {view.stop_reason}" if view.stop_reason else view.state
    ax.set_title(f"{campaign}: {view.objective}\n{state}", fontsize=9)
    if not found:
        ax.text(0.5, 0.5, "no feasible result yet", transform=ax.transAxes, ha="center")
    ax.legend(fontsize=8)
    return _save(fig, out_dir, f"{campaign}_loop.png")


__all__ = ["RANDOM_LABELS", "plot_loop"]
