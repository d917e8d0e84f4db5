"""``htflow demo``: the demo campaign through the local SLURM and the agent; table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from htflow.campaign.plan import CampaignPlan
    from htflow.cluster.local_slurm import ClusterStatus

DEFAULT_DIR = Path("demo-output")


def demo(
    directory: Annotated[
        Path, typer.Option("--out", help="Output directory: home/ (database, runs) and plots/.")
    ] = DEFAULT_DIR,
    campaign: Annotated[
        Path | None, typer.Option(help="Campaign YAML (default: workflows/demo.yaml).")
    ] = None,
    user_home: Annotated[
        bool,
        typer.Option(
            "--user-home", help="Use your htflow home and database instead of <out>/home."
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the agent.")] = 3600.0,
) -> None:
    """Bring up the local SLURM, submit the demo campaign, run the agent until every
    Firework is done, build the materials, print the results table and write PNG plots.

    The local SLURM is left up (stop it with `htflow cluster down`).
    """
    from htflow.cli.demo_run import DEMO_CAMPAIGN, run_demo
    from htflow.reports.results import rich_table, wide_console

    console = wide_console()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("waiting", total=None, visible=False)

    def on_cluster(status: ClusterStatus) -> None:
        console.print(f"local SLURM up ({status.state_dir})")

    def on_plan(plan: CampaignPlan) -> None:
        counts = plan.counts()
        console.print(
            f"campaign [bold]{plan.spec.name}[/bold] ({plan.spec.protocol} protocol): "
            f"{counts['candidates']} materials, {counts['flows to submit']} flows "
            f"({counts['jobs to submit']} jobs) to submit, "
            f"{counts['flows already in database']} already in the database"
        )
        progress.start()

    def on_progress(states: dict[str, int], total: int) -> None:
        done = states.get("COMPLETED", 0) + states.get("FIZZLED", 0) + states.get("DEFUSED", 0)
        text = " ".join(f"{s.lower()} {n}" for s, n in sorted(states.items()))
        progress.update(task, total=total, completed=done, visible=True, description=text)

    def on_stage(stage: str) -> None:
        if stage == "build":
            progress.stop()
        labels = {
            "cluster": "bringing up the local SLURM",
            "plan": "planning and submitting",
            "agent": "running the agent (Ctrl-C stops it; rerun resumes)",
            "build": "building materials",
            "plots": "writing plots",
        }
        console.print(f"[bold]›[/bold] {labels.get(stage, stage)}")

    def on_status(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    try:
        result = run_demo(
            campaign or DEMO_CAMPAIGN,
            directory,
            use_user_home=user_home,
            timeout=timeout,
            on_cluster=on_cluster,
            on_plan=on_plan,
            on_progress=on_progress,
            on_stage=on_stage,
            # With a terminal the progress bar shows this; in a log file it would print
            # nothing for the agent's whole run.
            on_status=None if console.is_terminal else on_status,
        )
    finally:
        progress.stop()
    states = ", ".join(f"{s} {n}" for s, n in sorted(result.states.items()))
    console.print(f"Fireworks: {states}")
    if result.results is not None:
        console.print(rich_table(result.results, title="demo results"))
        from htflow.cli.results import print_screening

        print_screening(result.campaign, result.db_uri, console)
    console.print(f"{len(result.plots)} plots in {result.out_dir / 'plots'}")
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items())
    console.print(f"wall time: {timings}")
    console.print(
        f"database: {result.db_uri}; `HTFLOW_HOME={result.home} htflow results demo` "
        "shows the table again; `htflow cluster down` stops the local SLURM"
    )
