"""``htflow results [CAMPAIGN | MATERIAL_ID]``: the materials table with the quality of each
property (optionally as JSON), or with ``--checks`` the evidence behind those qualities."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """An htflow error becomes one line on stderr and exit status 2 (as in ``main()``)."""
    try:
        yield
    except HtflowError as exc:
        print(f"htflow: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def results(
    campaign: Annotated[
        str | None,
        typer.Argument(help="Campaign name, or one material id (htf-…) (default: every material)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead.")] = False,
    checks: Annotated[
        bool,
        typer.Option(
            "--checks",
            help="Show each property's quality with its reasons, check values and settings.",
        ),
    ] = False,
) -> None:
    """A table of materials and properties: energy, formation energy, E_hull, gap, E_F,
    moduli, EOS, each group with its quality (q: verified, checked, SUSPECT). Run
    `htflow export build` (or the demo) first to build materials; `--checks` says why."""
    from htflow.reports.results import (
        is_material_id,
        material_checks,
        records,
        render_checks,
        results_table,
        rich_table,
        wide_console,
    )

    if checks:
        with one_line_errors():
            found = material_checks(campaign, db)
        if as_json:
            typer.echo(json.dumps(found, indent=2, default=str, ensure_ascii=False))
        else:
            wide_console().print(render_checks(found))
        return
    with one_line_errors():
        frame = results_table(campaign, db)
    if as_json:
        typer.echo(json.dumps(records(frame), indent=2, default=str))
        return
    if is_material_id(campaign):
        title = f"material {campaign}"
    else:
        title = f"campaign {campaign}" if campaign else "materials"
    console = wide_console()
    console.print(rich_table(frame, title=f"{title} ({len(frame)})"))
    quality = [c for c in frame.columns if c.startswith("quality.")]
    if any((frame[c] == "suspect").any() for c in quality):
        console.print("why a value is suspect: htflow results [CAMPAIGN | MATERIAL_ID] --checks")
    if campaign and not is_material_id(campaign):
        print_screening(campaign, db, console)


def print_screening(campaign: str, db: str | None, console: Any) -> None:
    """The funnel's decisions (kept and screened out, with the reason), if it had one."""
    from htflow.reports.screening import screening_table

    frame = screening_table(campaign, db)
    if not len(frame):
        return
    n_out = int((~frame["kept"].astype(bool)).sum())
    table = Table(title=f"funnel of {campaign}: {len(frame) - n_out} kept, {n_out} screened out")
    for column in ("label", "formula", "entry", "E_hull ML eV/atom", "decision"):
        table.add_column(column)
    for row in frame.to_dict("records"):
        hull = row["energy_above_hull"]
        table.add_row(
            row["label"],
            row["formula"],
            row["entry"],
            "" if hull is None else f"{hull:.3f}",
            row["reason"],
        )
    console.print(table)
