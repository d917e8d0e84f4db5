"""``htflow pseudos``: register and list pseudopotential families."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from htflow.exceptions import HtflowError
from htflow.qe.pseudos import list_pseudo_families, register_pseudo_family

pseudos_app = typer.Typer(name="pseudos", help="Pseudopotential families.", no_args_is_help=True)


@pseudos_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name for the family, e.g. SSSP-1.3-PBE-precision.")],
    directory: Annotated[Path, typer.Argument(help="Directory holding the UPF files.")],
    metadata: Annotated[
        Path | None,
        typer.Option(help="SSSP-format metadata JSON (default: the single *.json in DIRECTORY)."),
    ] = None,
) -> None:
    """Register a family after checking every file and md5 listed in its metadata."""
    try:
        family = register_pseudo_family(name, directory, metadata)
    except HtflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"registered {family.name}: {len(family.pseudos)} elements in {family.directory}")


@pseudos_app.command("list")
def list_() -> None:
    """Show built-in and registered families."""
    try:
        families = list_pseudo_families()
    except HtflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    table = Table(title="Pseudopotential families")
    table.add_column("name")
    table.add_column("functional")
    table.add_column("directory")
    table.add_column("elements", justify="right")
    table.add_column("left out")
    for family in families:
        name = family.name + (" (built-in)" if family.builtin else "")
        left_out = "; ".join(f"{el}: {why}" for el, why in sorted(family.excluded.items()))
        table.add_row(
            name, family.functional, str(family.directory), str(len(family.pseudos)), left_out
        )
    Console(width=240).print(table)
