"""The results table: one row per material, optionally restricted to one campaign."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

# Column → (header with unit, format). Units are those of htflow.db.materials.MaterialDoc.
RESULT_COLUMNS: dict[str, tuple[str, str]] = {
    "material_id": ("material_id", "s"),
    "formula_reduced": ("formula", "s"),
    "energy_per_atom": ("E (eV/atom)", ".4f"),
    "formation_energy_per_atom": ("E_form (eV/atom)", ".3f"),
    "energy_above_hull": ("E_hull (eV/atom)", ".3f"),
    "band_gap": ("gap (eV)", ".3f"),
    "efermi": ("E_F (eV)", ".3f"),
    "k_vrh": ("K_VRH (GPa)", ".1f"),
    "g_vrh": ("G_VRH (GPa)", ".1f"),
    "eos_v0": ("V0 (Å³/atom)", ".3f"),
    "eos_b0": ("B0 (GPa)", ".1f"),
}


def campaign_task_ids(campaign: str, db_uri: str | None = None) -> set[str]:
    """Job uuids of every Firework of ``campaign`` (from the LaunchPad's Firework specs)."""
    from htflow.campaign.build import CAMPAIGN_KEY
    from htflow.db import get_launchpad

    lp = get_launchpad(db_uri)
    uuids = set()
    for doc in lp.fireworks.find({f"spec.{CAMPAIGN_KEY}": campaign}, {"spec._tasks": 1}):
        for task in doc.get("spec", {}).get("_tasks", []):
            uuid = (task.get("job") or {}).get("uuid")
            if uuid:
                uuids.add(uuid)
    return uuids


def campaign_material_ids(campaign: str, db_uri: str | None = None) -> list[str]:
    """Materials built from at least one task of ``campaign``, sorted."""
    from htflow.db.collections import open_database
    from htflow.db.materials import MATERIALS_COLLECTION

    uuids = campaign_task_ids(campaign, db_uri)
    ids = []
    with open_database(db_uri) as (db, _):
        projection = {"_id": 0, "material_id": 1, "provenance.task_ids": 1}
        for doc in db[MATERIALS_COLLECTION].find({}, projection):
            tasks = (doc.get("provenance") or {}).get("task_ids") or []
            if any(t.partition(":")[0] in uuids for t in tasks):
                ids.append(doc["material_id"])
    return sorted(ids)


def results_table(campaign: str | None = None, db_uri: str | None = None) -> pd.DataFrame:
    """Materials and their properties (columns: :data:`RESULT_COLUMNS`), by material_id.

    Parameters
    ----------
    campaign
        Only the materials of this campaign (None: every material).
    db_uri
        As for :func:`htflow.db.get_jobstore`.
    """
    import pandas as pd

    from htflow.db.access import query

    fields = list(RESULT_COLUMNS)
    if campaign is None:
        return query(fields=fields, uri=db_uri)
    ids = campaign_material_ids(campaign, db_uri)
    if not ids:
        return pd.DataFrame(columns=fields)
    frame = query(fields=fields, uri=db_uri)
    return frame[frame["material_id"].isin(ids)].reset_index(drop=True)


def format_value(value: Any, spec: str) -> str:
    """A cell: ``-`` for missing values, else ``format(value, spec)``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        import pandas as pd

        if pd.isna(value):
            return "-"
    except (TypeError, ValueError):
        pass
    return format(value, spec) if spec != "s" else str(value)


def rich_table(frame: pd.DataFrame, title: str = "materials") -> Table:
    """The results as a rich Table with units in the headers."""
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        header = RESULT_COLUMNS.get(column, (column, "s"))[0]
        table.add_column(
            header,
            justify="left" if column in ("material_id", "formula_reduced") else "right",
            no_wrap=column == "material_id",
        )
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                format_value(value, RESULT_COLUMNS.get(column, (column, "s"))[1])
                for column, value in zip(frame.columns, row, strict=True)
            )
        )
    return table


def wide_console() -> Console:
    """A console at least 150 columns wide, so the table is never truncated (pipes, CI)."""
    from rich.console import Console

    console = Console()
    return console if console.width >= 150 else Console(width=150)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN → None)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (None if format_value(v, "s") == "-" else v) for k, v in row.items()})
    return out
