"""ML against DFT for a campaign that went through a funnel: the parity plot.

Two panels, one point per material with both numbers: formation energy per atom and energy
above the hull, the model's (``ml`` field, from the screen) against DFT's (the material's
own). Total energies are never compared: the model's scale (Materials Project PBE) and a
plane-wave code's pseudopotential energies differ by a constant per element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from htflow.reports.plots import PlotDataError, _figure, _save

if TYPE_CHECKING:
    from pathlib import Path

PARITY_PAIRS = (
    ("formation_energy_per_atom", "formation energy (eV/atom)"),
    ("energy_above_hull", "energy above hull (eV/atom)"),
)


def parity_points(campaign: str, db_uri: str | None = None) -> list[dict[str, Any]]:
    """``material_id``, formula and the ML and DFT values of each campaign material with ML
    numbers (units: eV/atom)."""
    from htflow.db.access import query
    from htflow.reports.results import campaign_material_ids

    ids = campaign_material_ids(campaign, db_uri)
    if not ids:
        return []
    fields = ["material_id", "formula_reduced", "ml", *(name for name, _ in PARITY_PAIRS)]
    frame = query({"material_id": {"$in": ids}}, fields, uri=db_uri)
    points = []
    for row in frame.to_dict("records"):
        ml = row.get("ml") or {}
        if not ml:
            continue
        point = {"material_id": row["material_id"], "formula": row["formula_reduced"]}
        for name, _ in PARITY_PAIRS:
            point[f"dft_{name}"] = row.get(name)
            point[f"ml_{name}"] = ml.get(name)
        point["model"] = ml.get("model")
        points.append(point)
    return points


def plot_parity(campaign: str, out_dir: Path, db_uri: str | None = None) -> Path:
    """``<campaign>_parity.png``: ML against DFT (see the module docstring)."""
    points = parity_points(campaign, db_uri)
    if not points:
        raise PlotDataError(
            f"campaign {campaign!r} has no material with both ML and DFT numbers (a campaign "
            "needs a funnel, and its DFT results built into materials)"
        )
    fig = _figure()
    fig.set_size_inches(10, 4.5)
    axes = fig.subplots(1, 2)
    model = points[0]["model"]
    for ax, (name, label) in zip(axes, PARITY_PAIRS, strict=True):
        pairs = [
            (p[f"dft_{name}"], p[f"ml_{name}"], p["formula"])
            for p in points
            if p[f"dft_{name}"] is not None and p[f"ml_{name}"] is not None
        ]
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"{model} {label}")
        if not pairs:
            ax.set_title("no pairs")
            continue
        x, y = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        ax.scatter(x, y, s=18)
        for xi, yi, formula in pairs:
            ax.annotate(formula, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        pad = 0.05 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=0.8)
        ax.set_title(f"MAE {np.abs(x - y).mean():.3f} eV/atom, n = {len(pairs)}")
    fig.suptitle(f"{campaign}: {model} against DFT")
    return _save(fig, out_dir, f"{campaign}_parity.png")


__all__ = ["PARITY_PAIRS", "parity_points", "plot_parity"]
