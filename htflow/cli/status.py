"""``htflow status [CAMPAIGN]``: Fireworks by state, failures by cause, core-hours."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def status(
    campaign: Annotated[
        str | None, typer.Argument(help="Campaign name (default: every Firework).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Cluster profile (for sacct and the core-hour budget).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts by state, failures by cause (Custodian error classes, FIZZLED reasons),
    core-hours used and left. Read-only: safe while the agent runs."""
    from htflow.cli.results import one_line_errors
    from htflow.cluster import load_profile
    from htflow.reports.status import campaign_status

    with one_line_errors():
        report = campaign_status(campaign, db_uri=db, profile=load_profile(profile))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        return
    console = Console()
    title = f"campaign {campaign}" if campaign else "all campaigns"
    states = Table(title=f"{title}: Fireworks by state")
    states.add_column("state")
    states.add_column("count", justify="right")
    for state, count in sorted(report.states.items()):
        states.add_row(state, str(count))
    states.add_row("[bold]total[/bold]", str(sum(report.states.values())))
    console.print(states)
    for label, counts in (
        ("Custodian corrections by error class", report.corrections),
        ("FIZZLED Fireworks by cause", report.fizzled),
    ):
        if not counts:
            console.print(f"{label}: none")
            continue
        table = Table(title=label)
        table.add_column("cause")
        table.add_column("count", justify="right")
        for cause, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            table.add_row(cause, str(count))
        console.print(table)
    if report.reused:
        served = sorted({(e["fw_id"], e["state"], e["campaign"]) for e in report.reused})
        shown = ", ".join(f"fw {i} ({state}, campaign {c})" for i, state, c in served[:5])
        more = f" and {len(served) - 5} more" if len(served) > 5 else ""
        console.print(
            f"relaxations reused: {len(report.reused)}, served by {shown}{more} "
            "(their core-hours count there)"
        )
    left = "n/a" if report.core_hours_left is None else f"{report.core_hours_left:.2f}"
    console.print(
        f"core-hours used: {report.core_hours_used:.2f} ({report.allocations} SLURM "
        f"allocations); left: {left}"
    )
