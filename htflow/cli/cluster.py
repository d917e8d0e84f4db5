"""``htflow cluster``: bring the local SLURM up (one node, or several in namespaces), down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from htflow.cluster.local_slurm import cluster_down, cluster_status, cluster_up

cluster_app = typer.Typer(
    name="cluster",
    help="The local SLURM (munge, slurmctld, one slurmd per node).",
    no_args_is_help=True,
)

StateDir = Annotated[
    Path | None,
    typer.Option(help="State directory (default: $HTFLOW_SLURM_STATE or <htflow home>/slurm)."),
]


@cluster_app.command("up")
def up(
    accounting: Annotated[
        bool, typer.Option("--accounting", help="Also run MariaDB and slurmdbd so sacct works.")
    ] = False,
    state_dir: StateDir = None,
    nodes: Annotated[
        int,
        typer.Option(
            "--nodes",
            min=1,
            help="Compute nodes; more than 1 runs each slurmd in its own network namespace "
            "on a private bridge (root only).",
        ),
    ] = 1,
) -> None:
    """Start munged, slurmctld and slurmd (idempotent); wait until every node is idle."""
    start = time.monotonic()
    status = cluster_up(accounting=accounting, state_dir=state_dir, nodes=nodes)
    typer.echo(status.format())
    typer.echo(f"# up in {time.monotonic() - start:.1f} s")


@cluster_app.command("down")
def down(state_dir: StateDir = None) -> None:
    """Cancel the cluster's jobs and stop every daemon by its pid (a no-op when down)."""
    status = cluster_down(state_dir=state_dir)
    typer.echo(status.format())


@cluster_app.command("status")
def status(state_dir: StateDir = None) -> None:
    """Each daemon (running with pid, or stopped), sinfo, and the SLURM_CONF export line.

    Exits with status 1 when the cluster is not (fully) up, so scripts can test it.
    """
    report = cluster_status(state_dir=state_dir)
    typer.echo(report.format())
    if not report.up:
        raise typer.Exit(1)
