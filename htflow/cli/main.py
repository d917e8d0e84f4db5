"""The ``htflow`` command: a thin typer front end over the library."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="htflow",
    help="High-throughput DFT campaigns on SLURM clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """High-throughput DFT campaigns on SLURM clusters."""


def main() -> None:
    """Entry point that turns htflow errors into one line and exit status 2."""
    app()
