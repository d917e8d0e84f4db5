"""``htflow demo``: a real Si relax → static → DOS with pw.x, run locally with jobflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

DEFAULT_DIR = Path("demo-output")


def demo(
    directory: Annotated[Path, typer.Option(help="Where the run directories go.")] = DEFAULT_DIR,
    protocol: Annotated[str, typer.Option(help="QE protocol: fast, balanced, stringent.")] = "fast",
) -> None:
    """Relax silicon, run a static SCF and a DOS, and print what came out."""
    from htflow.qe.demo import run_si_demo

    console = Console()
    console.print(f"[bold]htflow demo[/bold]: Si relax → static → DOS ({protocol} protocol)")
    results = run_si_demo(directory, protocol=protocol)
    table = Table(title="Si (diamond), pw.x")
    columns = ("step", "energy (eV/atom)", "volume (Å³/atom)", "E_F (eV)", "gap (eV)", "wall (s)")
    for column in columns:
        table.add_column(column)
    for row in results["rows"]:
        table.add_row(*row)
    console.print(table)
    for line in results["notes"]:
        console.print(line)
