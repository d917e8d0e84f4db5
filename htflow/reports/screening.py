"""The funnel's decisions for a campaign, as a table: what was kept, what was screened out, why."""

from __future__ import annotations

import pandas as pd

SCREENING_COLUMNS = (
    "label",
    "formula",
    "entry",
    "kept",
    "energy_above_hull",
    "formation_energy_per_atom",
    "model",
    "reason",
)


def screening_table(campaign: str, db_uri: str | None = None) -> pd.DataFrame:
    """One row per candidate the campaign's funnel judged (ML numbers in eV/atom); empty
    when the campaign has no funnel or its screen has not run yet."""
    from htflow.db.collections import open_database
    from htflow.db.screening import screening_docs

    with open_database(db_uri) as (db, _):
        docs = screening_docs(db, campaign)
    frame = pd.DataFrame([{k: d.get(k) for k in SCREENING_COLUMNS} for d in docs])
    return frame if len(frame) else pd.DataFrame(columns=list(SCREENING_COLUMNS))


__all__ = ["SCREENING_COLUMNS", "screening_table"]
