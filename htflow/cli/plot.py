"""``htflow plot MATERIAL_ID | --campaign NAME``: DOS, band structure, EOS, elastic PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from htflow.exceptions import InputError


def plot(
    material_id: Annotated[
        str | None, typer.Argument(help="Material id (htf-…), or use --campaign.")
    ] = None,
    campaign: Annotated[
        str | None, typer.Option(help="Plot every material of this campaign.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help="dos, bands, eos, elastic, parity (ML against DFT) or loop (an active "
            "campaign's best value against DFT calculations); parity and loop need --campaign "
            "(repeatable; default: dos, eos, elastic)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the PNG files.")] = Path("plots"),
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
) -> None:
    """Write PNG plots (matplotlib): DOS per material, EOS curves, elastic summary."""
    from htflow.cli.results import one_line_errors

    with one_line_errors():
        _plot(material_id, campaign, tuple(kind or ()), out, db)


def _plot(
    material_id: str | None, campaign: str | None, kinds: tuple[str, ...], out: Path, db: str | None
) -> None:
    from htflow.reports.plots import (
        CAMPAIGN_ONLY_KINDS,
        PLOT_KINDS,
        plot_campaign,
        plot_material,
    )

    unknown = [k for k in kinds if k not in PLOT_KINDS]
    if unknown:
        raise InputError(f"unknown plot kind {unknown[0]!r}: use one of {', '.join(PLOT_KINDS)}")
    if (material_id is None) == (campaign is None):
        raise InputError("give a MATERIAL_ID or --campaign NAME (one of the two)")
    if material_id is not None and set(kinds) & set(CAMPAIGN_ONLY_KINDS):
        kind = sorted(set(kinds) & set(CAMPAIGN_ONLY_KINDS))[0]
        raise InputError(f"--kind {kind} plots a whole campaign: give --campaign NAME")
    console = Console()
    if campaign is not None:
        with Progress(
            TextColumn("plotting"), BarColumn(), MofNCompleteColumn(), console=console,
            transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("plot", total=None)
            written = plot_campaign(
                campaign,
                out,
                db,
                kinds=kinds or ("dos", "eos", "elastic"),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    else:
        assert material_id is not None
        written = plot_material(material_id, out, kinds or ("dos", "eos", "elastic"), db)
    if not written:
        raise InputError(
            f"nothing to plot for {material_id or campaign!r}: no material has the data "
            "(build materials first: htflow export build)"
        )
    for path in written:
        console.print(str(path))
