"""The materials table (each property with its quality and reasons) and PNG plots on demand."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from htflow.dashboard.paging import PER_PAGE, paginate
from htflow.exceptions import HtflowError

PLOT_KINDS = ("dos", "eos", "elastic")


def materials_page(selection: str | None, uri: str | None, number: int = 1) -> dict[str, Any]:
    """Headers and one page of rows (value cells and quality cells) of the selection's
    materials: a campaign, one material id, or all (None)."""
    from htflow.reports.results import RESULT_COLUMNS, checks_of, format_value, results_table

    empty = {"headers": [], "rows": [], "ids": [], "page": paginate([], 1), "error": None}
    try:
        frame = results_table(selection, uri)
    except HtflowError as exc:
        return {**empty, "error": str(exc)}
    page = paginate(list(range(len(frame))), number, PER_PAGE)
    frame = frame.iloc[page.items] if page.items else frame.head(0)
    evidence = {m["material_id"]: m["checks"] for m in checks_of(list(frame.material_id), uri)}
    headers = [RESULT_COLUMNS.get(c, (c, "s"))[0] for c in frame.columns]
    rows = []
    for record in frame.to_dict(orient="records"):
        row: list[dict[str, Any]] = []
        for column, value in record.items():
            spec = RESULT_COLUMNS.get(column, (column, "s"))[1]
            if spec != "q":
                row.append({"text": format_value(value, spec)})
                continue
            key = column.split(".", 1)[1]
            level = value if isinstance(value, str) else None
            reasons = (evidence.get(record["material_id"], {}).get(key) or {}).get("reasons")
            row.append({"level": level, "reasons": reasons or []})
        rows.append(row)
    return {
        "headers": headers,
        "rows": rows,
        "ids": list(frame.material_id),
        "page": page,
        "error": None,
    }


def plot_png(material_id: str, kind: str, uri: str | None) -> bytes:
    """The PNG of one plot (``htflow plot``'s figure), rendered now.

    Raises
    ------
    htflow.reports.plots.PlotDataError
        The material lacks the data (e.g. no DOS).
    """
    from htflow.reports.plots import plot_material

    with tempfile.TemporaryDirectory(prefix="htflow-plot-") as tmp:
        paths = plot_material(material_id, Path(tmp), (kind,), uri)
        return paths[0].read_bytes()
