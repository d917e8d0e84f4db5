"""The results table: one row per material, optionally restricted to one campaign or one
material, with the quality of each property group; and the checks behind those qualities."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console, RenderableType
    from rich.table import Table

# Column → (header with unit, format). Units are those of htflow.db.materials.MaterialDoc;
# a "q …" column is the quality (verified, checked, suspect) of the group before it.
RESULT_COLUMNS: dict[str, tuple[str, str]] = {
    "material_id": ("material_id", "s"),
    "formula_reduced": ("formula", "s"),
    "energy_per_atom": ("E (eV/atom)", ".4f"),
    "quality.energy": ("q E", "q"),
    "formation_energy_per_atom": ("E_form (eV/atom)", ".3f"),
    "energy_above_hull": ("E_hull (eV/atom)", ".3f"),
    "quality.formation_energy": ("q form", "q"),
    "band_gap": ("gap (eV)", ".3f"),
    "efermi": ("E_F (eV)", ".3f"),
    "quality.band_gap": ("q gap", "q"),
    "k_vrh": ("K_VRH (GPa)", ".1f"),
    "g_vrh": ("G_VRH (GPa)", ".1f"),
    "quality.elastic": ("q elastic", "q"),
    "eos_v0": ("V0 (Å³/atom)", ".3f"),
    "eos_b0": ("B0 (GPa)", ".1f"),
    "quality.eos": ("q EOS", "q"),
}
# How the table shows a quality label (the JSON keeps the full word).
LEVEL_LABELS = {
    "verified": "[green]verified[/]",
    "checked": "checked",
    "suspect": "[red]SUSPECT[/]",
}
MATERIAL_ID = re.compile(r"^htf-[0-9a-f]{10}$")


def is_material_id(text: str | None) -> bool:
    """True for a materials id (``htf-`` + 10 hex digits) rather than a campaign name."""
    return bool(text and MATERIAL_ID.match(text))


def campaign_task_ids(campaign: str, db_uri: str | None = None) -> set[str]:
    """Job uuids of every Firework of ``campaign`` (from the LaunchPad's Firework specs)."""
    from htflow.db.scan import scan
    from htflow.launch.spec import CAMPAIGN_KEY

    uuids = set()
    for row in scan(db_uri, "fireworks", ["spec._tasks"], {f"spec.{CAMPAIGN_KEY}": campaign}):
        for task in row.get("spec._tasks") or []:
            uuid = (task.get("job") or {}).get("uuid")
            if uuid:
                uuids.add(str(uuid))
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
        Only the materials of this campaign, or this one material when it is a material id
        (None: every material).
    db_uri
        As for :func:`htflow.db.get_jobstore`.

    Raises
    ------
    MaterialNotFoundError
        A material id that no material has.
    """
    import pandas as pd

    from htflow.db.access import query

    fields = list(RESULT_COLUMNS)
    if campaign is None:
        return query(fields=fields, uri=db_uri)
    if is_material_id(campaign):
        frame = query({"material_id": campaign}, fields, uri=db_uri)
        if frame.empty:
            from htflow.db.access import MaterialNotFoundError

            raise MaterialNotFoundError(f"no material {campaign!r}: list ids with htflow results")
        return frame
    ids = campaign_material_ids(campaign, db_uri)
    if not ids:
        return pd.DataFrame(columns=fields)
    frame = query(fields=fields, uri=db_uri)
    return frame[frame["material_id"].isin(ids)].reset_index(drop=True)


def format_value(value: Any, spec: str) -> str:
    """A cell: ``-`` for missing values, a quality label for ``q``, else ``format(value, spec)``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        import pandas as pd

        if pd.isna(value):
            return "-"
    except (TypeError, ValueError):
        pass
    if spec == "q":
        return LEVEL_LABELS.get(str(value), str(value))
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


# The results table with its quality columns needs about this many columns unsqueezed.
TABLE_WIDTH = 190


def wide_console() -> Console:
    """A console wide enough for the whole table, so no value is truncated (pipes, CI)."""
    from rich.console import Console

    console = Console()
    return console if console.width >= TABLE_WIDTH else Console(width=TABLE_WIDTH)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN → None)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (None if format_value(v, "s") == "-" else v) for k, v in row.items()})
    return out


def material_checks(
    selection: str | None = None, db_uri: str | None = None
) -> list[dict[str, Any]]:
    """The quality evidence of the selected materials (a campaign, one material id, or all).

    Returns
    -------
    list of dict
        Per material: ``material_id``, ``formula_reduced``, ``code``, ``protocol``,
        ``pseudo_family``, ``quality`` (key → level) and ``checks`` (key → level, reasons,
        checks with values and limits, settings), by material_id.
    """
    ids = None if selection is None else results_table(selection, db_uri)["material_id"].tolist()
    return checks_of(ids, db_uri)


def checks_of(ids: list[str] | None, db_uri: str | None = None) -> list[dict[str, Any]]:
    """:func:`material_checks` of these material ids (None: every material)."""
    from htflow.db.collections import open_database
    from htflow.db.materials import MATERIALS_COLLECTION

    fields = ["material_id", "formula_reduced", "code", "protocol", "pseudo_family"]
    projection = {f: 1 for f in [*fields, "quality", "checks"]} | {"_id": 0}
    criteria = {} if ids is None else {"material_id": {"$in": ids}}
    with open_database(db_uri) as (db, _):
        docs = list(db[MATERIALS_COLLECTION].find(criteria, projection))
    return [
        {
            **{f: d.get(f) for f in fields},
            "quality": d.get("quality") or {},
            "checks": d.get("checks") or {},
        }
        for d in sorted(docs, key=lambda d: d["material_id"])
    ]


def render_checks(materials: list[dict[str, Any]]) -> RenderableType:
    """Each material's properties: level, reasons, then every check with value and limit."""
    from rich.console import Group
    from rich.markup import escape
    from rich.text import Text

    lines: list[RenderableType] = []
    for m in materials:
        lines.append(
            Text.from_markup(
                f"[bold]{m['material_id']}[/] {escape(str(m['formula_reduced']))} "
                f"({m['code']}, {m['protocol']}, {escape(str(m['pseudo_family']))})"
            )
        )
        if not m["checks"]:
            lines.append(Text("  no quality recorded (build the materials again)"))
        for key, evidence in sorted(m["checks"].items()):
            level = LEVEL_LABELS.get(evidence.get("level"), str(evidence.get("level")))
            lines.append(Text.from_markup(f"  {key}: {level}"))
            # the reasons are the failed checks' details (and, for a formation energy, the
            # references'), so only the passed checks follow them
            for reason in evidence.get("reasons") or []:
                lines.append(Text.from_markup(f"    [red]FAIL[/] {escape(reason)}"))
            if evidence.get("verified_by"):
                lines.append(Text(f"    verified by: {evidence['verified_by']}"))
            for check in evidence.get("checks") or []:
                if check.get("passed"):
                    line = f"{check['name']}: {_check_line(check)}"
                    lines.append(Text.from_markup(f"    [green]ok[/]   {escape(line)}"))
            settings = evidence.get("settings") or {}
            if settings:
                text = ", ".join(f"{k}={v}" for k, v in settings.items())
                lines.append(Text(f"    settings: {text}", style="dim"))
        lines.append(Text(""))
    return Group(*lines)


def _check_line(check: dict[str, Any]) -> str:
    line = check.get("detail") or ""
    if check.get("value") is not None and check.get("limit") is not None and not line:
        line = f"{check['value']:g} (limit {check['limit']:g}) {check.get('unit') or ''}"
    return line
