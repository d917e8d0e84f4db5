"""``htflow results [CAMPAIGN]``: the materials table (optionally as JSON)."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

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
        str | None, typer.Argument(help="Campaign name (default: every material).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead.")] = False,
) -> None:
    """A table of materials and properties: energy, formation energy, E_hull, gap, E_F,
    moduli, EOS. Run `htflow export build` (or the demo) first to build materials."""
    from htflow.reports.results import records, results_table, rich_table, wide_console

    with one_line_errors():
        frame = results_table(campaign, db)
    if as_json:
        typer.echo(json.dumps(records(frame), indent=2, default=str))
        return
    title = f"campaign {campaign}" if campaign else "materials"
    wide_console().print(rich_table(frame, title=f"{title} ({len(frame)})"))
