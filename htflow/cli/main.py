"""The ``htflow`` command: a thin typer front end over the library."""

from __future__ import annotations

import sys

import typer

from htflow.exceptions import HtflowError

app = typer.Typer(
    name="htflow",
    help="High-throughput DFT campaigns on SLURM clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from htflow.cli import actions
    from htflow.cli.agent import agent_app
    from htflow.cli.cluster import cluster_app
    from htflow.cli.dashboard import dashboard_app
    from htflow.cli.demo import demo
    from htflow.cli.export import export_app
    from htflow.cli.init import init
    from htflow.cli.optimade import optimade_app
    from htflow.cli.plot import plot
    from htflow.cli.pseudos import pseudos_app
    from htflow.cli.results import results
    from htflow.cli.status import status
    from htflow.cli.submit import submit
    from htflow.cli.verify import verify

    app.add_typer(pseudos_app, name="pseudos", help="Register and list pseudopotential families.")
    app.add_typer(cluster_app, name="cluster", help="The local SLURM (one node or --nodes N).")
    app.add_typer(agent_app, name="agent", help="The agent: the one writer that runs campaigns.")
    app.add_typer(export_app, name="export", help="Build materials and export them for ML.")
    app.command("demo", help="Run the demo campaign on the local SLURM; results and plots.")(demo)
    app.add_typer(
        dashboard_app,
        name="dashboard",
        help="The campaign dashboard: progress, failures, actions (sign-in; users add).",
    )
    app.add_typer(optimade_app, name="optimade", help="Serve the materials as an OPTIMADE v1 API.")
    app.command("init", help="Write a commented ~/.htflow.yaml.")(init)
    app.command("submit", help="Submit a campaign (--dry-run: candidates, nothing submitted).")(
        submit
    )
    app.command("status", help="Counts by state, failures by cause, core-hours.")(status)
    app.command("results", help="The materials table of a campaign (or all).")(results)
    app.command("rerun", help="Rerun FIZZLED Fireworks (by cause, regex or id).")(actions.rerun)
    app.command("pause", help="Start no new launch of a campaign.")(actions.pause)
    app.command("resume", help="Let a paused (or cancelled) campaign run again.")(actions.resume)
    app.command("cancel", help="Defuse a campaign's waiting work, stop its allocations.")(
        actions.cancel
    )
    app.command(
        "priority",
        help="Set the priority of a campaign's unfinished Fireworks.",
        context_settings={"ignore_unknown_options": True},  # a negative priority: -5
    )(actions.priority)
    app.command("audit", help="Who asked for which action, and what it did.")(actions.audit)
    app.command("plot", help="DOS, bands, EOS and elastic plots as PNG.")(plot)
    app.command(
        "verify",
        help="Precision checks: ACWF equation of state (--property eos, against all-electron "
        "data) or elastic constants (--property elastic, against reference tensors).",
    )(verify)


_register()


def main() -> None:
    """Entry point: htflow errors become one line on stderr and exit status 2."""
    try:
        app()
    except HtflowError as exc:
        print(f"htflow: error: {exc}", file=sys.stderr)
        sys.exit(2)
