"""PNG plots of materials: DOS, EOS curve, and an elastic-moduli summary (matplotlib, Agg).

Every function returns the path it wrote. Data come from the read API
(:func:`htflow.db.get_dos`, the materials collection) and, for EOS points, from the EOS
task document the material's provenance names.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

PLOT_KINDS = ("dos", "bands", "eos", "elastic", "parity", "loop")
CAMPAIGN_ONLY_KINDS = ("parity", "loop")
logger = logging.getLogger(__name__)


class PlotDataError(HtflowError):
    """A material lacks the data a plot needs."""


def _figure() -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 4), dpi=100, layout="tight")


def _material(material_id: str, db_uri: str | None, fields: list[str]) -> dict[str, Any]:
    from htflow.db.access import _material as read_material

    return read_material(material_id, db_uri, fields)


def plot_dos(material_id: str, out_dir: Path, db_uri: str | None = None) -> Path:
    """Total DOS (states/eV/cell) against E - E_F (eV); ``<out>/<id>_dos.png``."""
    import numpy as np

    from htflow.db.access import get_dos

    doc = _material(material_id, db_uri, ["formula_reduced", "dos_ref"])
    if not doc.get("dos_ref"):
        raise PlotDataError(f"material {material_id!r} has no DOS: run relax_static_dos on it")
    dos = get_dos(material_id, db_uri)
    energies = np.asarray(dos.energies, dtype=float) - float(dos.efermi)
    total = sum(np.asarray(d, dtype=float) for d in dos.densities.values())
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(energies, total, color="k", lw=1)
    ax.axvline(0.0, color="tab:red", ls="--", lw=0.8, label="E_F")
    ax.set_xlim(max(energies.min(), -12), min(energies.max(), 8))
    ax.set_xlabel("E - E_F (eV)")
    ax.set_ylabel("DOS (states/eV/cell)")
    ax.set_title(f"{doc.get('formula_reduced', '')} {material_id}: density of states")
    ax.legend()
    return _save(fig, out_dir, f"{material_id}_dos.png")


def plot_eos(material_id: str, out_dir: Path, db_uri: str | None = None) -> Path:
    """E(V) points and their Birch-Murnaghan fit (eV/atom, Å³/atom); ``<id>_eos.png``."""
    import numpy as np

    doc = _material(
        material_id, db_uri, ["formula_reduced", "eos_v0", "eos_b0", "eos_b1", "provenance"]
    )
    task = (doc.get("provenance") or {}).get("eos_task_id")
    if not task:
        raise PlotDataError(f"material {material_id!r} has no EOS: add eos to its workflow")
    output = _task_output(task, db_uri)
    points = output.get("points") or []
    volumes = np.array([p["volume_per_atom"] for p in points], dtype=float)
    energies = np.array([p["energy_per_atom"] for p in points], dtype=float)
    v0, b0, b1, e0 = (float(output[k]) for k in ("v0", "b0", "b1", "e0"))
    grid = np.linspace(volumes.min() * 0.98, volumes.max() * 1.02, 200)
    fit = _birch_murnaghan(grid, e0, v0, b0 / 160.21766208, b1)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(grid, fit - e0, color="tab:blue", label=f"BM fit: V0={v0:.2f} Å³, B0={b0:.0f} GPa")
    ax.plot(volumes, energies - e0, "o", color="k", label="pw.x")
    ax.set_xlabel("V (Å³/atom)")
    ax.set_ylabel("E - E0 (eV/atom)")
    ax.set_title(f"{doc.get('formula_reduced', '')} {material_id}: equation of state")
    ax.legend()
    return _save(fig, out_dir, f"{material_id}_eos.png")


def plot_elastic_summary(
    material_ids: list[str], out_dir: Path, db_uri: str | None = None, name: str = "elastic"
) -> Path:
    """Bar chart of K_VRH and G_VRH (GPa) for the materials that have them; ``<name>.png``."""
    import numpy as np

    rows = []
    for material_id in material_ids:
        doc = _material(material_id, db_uri, ["formula_reduced", "k_vrh", "g_vrh"])
        if doc.get("k_vrh") is not None:
            rows.append((doc["formula_reduced"], doc["k_vrh"], doc.get("g_vrh") or 0.0))
    if not rows:
        raise PlotDataError(
            "no material has elastic moduli: add elastic to the campaign's workflow"
        )
    x = np.arange(len(rows))
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [r[1] for r in rows], width=0.4, label="K_VRH")
    ax.bar(x + 0.2, [r[2] for r in rows], width=0.4, label="G_VRH")
    ax.set_xticks(x, [r[0] for r in rows])
    ax.set_ylabel("modulus (GPa)")
    ax.set_title("elastic moduli (Voigt-Reuss-Hill)")
    ax.legend()
    return _save(fig, out_dir, f"{name}.png")


def plot_bands(material_id: str, out_dir: Path, db_uri: str | None = None) -> Path:
    """Band structure: not stored on materials documents yet (see docs/troubleshooting.md)."""
    raise PlotDataError(
        f"material {material_id!r}: band structures are not stored on materials documents "
        "yet: plot the DOS (--kind dos) instead"
    )


def plot_material(
    material_id: str, out_dir: Path, kinds: tuple[str, ...] = PLOT_KINDS, db_uri: str | None = None
) -> list[Path]:
    """Every plot of ``kinds`` the material has data for (missing data is skipped)."""
    makers: dict[str, Callable[..., Path]] = {
        "dos": plot_dos,
        "eos": plot_eos,
        "bands": plot_bands,
        "elastic": lambda mid, out, uri: plot_elastic_summary([mid], out, uri, f"{mid}_elastic"),
    }
    written = []
    for kind in kinds:
        try:
            written.append(makers[kind](material_id, out_dir, db_uri))
        except PlotDataError:
            if len(kinds) == 1:
                raise
        except Exception:  # one broken plot must not cost the others (or the demo's table)
            if len(kinds) == 1:
                raise
            logger.warning("could not plot %s of %s", kind, material_id, exc_info=True)
    return written


def plot_campaign(
    campaign: str,
    out_dir: Path,
    db_uri: str | None = None,
    kinds: tuple[str, ...] = ("dos", "eos", "elastic"),
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """DOS and EOS per material, one elastic summary for ``campaign``'s materials, and the
    campaign-wide ``parity`` (funnel) and ``loop`` (active campaign) plots."""
    from htflow.reports.results import campaign_material_ids

    ids = campaign_material_ids(campaign, db_uri)
    written = []
    per_material = tuple(k for k in kinds if k in ("dos", "eos", "bands"))
    for i, material_id in enumerate(ids):
        written += plot_material(material_id, out_dir, per_material, db_uri) if per_material else []
        if progress is not None:
            progress(i + 1, len(ids))
    if "elastic" in kinds:
        with contextlib.suppress(PlotDataError):  # no elastic data: no summary plot
            written.append(plot_elastic_summary(ids, out_dir, db_uri, f"{campaign}_elastic"))
    if "parity" in kinds:
        from htflow.reports.parity import plot_parity

        if kinds == ("parity",):
            written.append(plot_parity(campaign, out_dir, db_uri))  # asked for: say why not
        else:
            with contextlib.suppress(PlotDataError):
                written.append(plot_parity(campaign, out_dir, db_uri))
    if "loop" in kinds:
        from htflow.reports.loop_plot import plot_loop

        if kinds == ("loop",):
            written.append(plot_loop(campaign, out_dir, db_uri))  # asked for: say why not
        else:
            with contextlib.suppress(PlotDataError):
                written.append(plot_loop(campaign, out_dir, db_uri))
    return written


def _task_output(task: str, db_uri: str | None) -> dict[str, Any]:
    from htflow.db import get_jobstore

    uuid, _, index = task.partition(":")
    store = get_jobstore(db_uri)
    store.connect()
    try:
        doc = store.query_one({"uuid": uuid, "index": int(index or 1)}, load=True)
    finally:
        store.close()
    if not doc:
        raise PlotDataError(f"task {task} is missing from the job store")
    output: dict[str, Any] = doc["output"]
    return output


def _birch_murnaghan(v: Any, e0: float, v0: float, b0: float, b1: float) -> Any:
    """Third-order Birch-Murnaghan E(V); ``b0`` in eV/Å³."""
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * (
        (eta - 1.0) ** 3 * b1 + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta)
    )


def _save(fig: Figure, out_dir: Path, name: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name.replace("/", "_")
    fig.savefig(path)
    return path
