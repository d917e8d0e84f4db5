"""``htflow submit CAMPAIGN.yaml [--dry-run]``: plan a campaign, show it, submit it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymatgen.core import Structure

    from htflow.campaign.plan import CampaignPlan

submit_app = typer.Typer(
    name="submit",
    help="Submit a campaign (or --dry-run to see its candidates and counts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@submit_app.command("submit")
def submit(
    campaign: Annotated[Path, typer.Argument(help="The campaign YAML (see docs/campaigns.md).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show candidates and counts; submit nothing.")
    ] = False,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    agent_dir: Annotated[
        Path | None,
        typer.Option(help="Running agent's directory, for its inbox (default: <home>/agent)."),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the Materials Project and OPTIMADE sources.")
    ] = False,
) -> None:
    """Generate, check, filter and de-duplicate the campaign's candidates, then submit them.

    Submission is all-or-nothing: any bad file or entry stops it before anything is written.
    While an agent runs (it holds the database lock), the flows go into its inbox instead.
    """
    console = Console(stderr=False)
    try:
        plan = _plan(campaign, db, offline, console)
        _show(plan, console)
        if dry_run:
            if plan.spec.code == "vasp":
                _show_vasp_jobs(plan, console)
            console.print("[bold]dry run[/bold]: nothing submitted")
            return
        if not plan.flows:
            console.print("nothing new to submit: every flow is already in the database")
            return
        _submit(plan, db, agent_dir, console)
    except HtflowError as exc:
        # one line on stderr and status 2, the same as htflow.cli.main.main()
        print(f"htflow: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def _plan(campaign: Path, db: str | None, offline: bool, console: Console) -> CampaignPlan:
    from htflow.campaign.plan import plan_campaign
    from htflow.campaign.spec import load_campaign
    from htflow.submit.campaign import campaign_profile

    spec = load_campaign(campaign)
    campaign_profile(spec.cluster, campaign)  # a bad profile fails before planning
    launchpad = None
    if spec.dedupe.against_database:
        from htflow.db import get_launchpad

        launchpad = get_launchpad(db)
    with _progress(console) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        return plan_campaign(
            campaign,
            launchpad=launchpad,
            network=not offline,
            progress=report,
            known_phases=known_phases_of(db) if spec.funnel is not None else None,
        )


def known_phases_of(db: str | None) -> Callable[[set[str]], list[tuple[str, Structure]]]:
    """The funnel's known phases: compounds the database holds in the campaign's elements."""
    from htflow.db.phases import known_phases

    return lambda elements: known_phases(elements, db)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )


def _show(plan: CampaignPlan, console: Console) -> None:
    from htflow.campaign.build import crystal_system

    planned: dict[int, list[str]] = {}
    for p in plan.flows:
        planned.setdefault(id(p.candidate), []).append(p.workflow)
    if plan.spec.funnel is not None:  # one ML flow stands for every candidate
        stages = " → ".join(plan.spec.funnel.stages)
        planned = {id(c): [f"funnel ({stages})"] for c in plan.candidates}
    in_db: dict[int, list[str]] = {}
    for p in plan.database_duplicates:
        in_db.setdefault(id(p.candidate), []).append(p.workflow)
    reused = _reused_relaxations(plan)
    table = Table(title=f"campaign {plan.spec.name} ({plan.spec.protocol} protocol)")
    columns = ["formula", "sites", "system", "entry", "to submit", "in database"]
    for column in columns + (["relaxation reused"] if plan.reuses else []):
        table.add_column(column)
    for c in plan.candidates:
        row = [
            c.formula,
            str(len(c.structure)),
            crystal_system(c.structure),
            c.entry,
            ", ".join(planned.get(id(c), [])) or "-",
            ", ".join(in_db.get(id(c), [])) or "-",
        ]
        table.add_row(*row, *(["; ".join(reused.get(id(c), [])) or "-"] if plan.reuses else []))
    console.print(table)
    left_out = Table(title="left out")
    if any(plan.filtered.values()) or plan.duplicates_within:
        for column in ("formula", "entry", "why"):
            left_out.add_column(column)
        for name, dropped in plan.filtered.items():
            for c in dropped:
                left_out.add_row(c.formula, c.entry, f"filter {name}")
        for c, of in plan.duplicates_within:
            left_out.add_row(c.formula, c.entry, f"duplicate of {of.entry}")
        console.print(left_out)
    counts = Table(title="counts", show_header=False)
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for what, n in plan.counts().items():
        counts.add_row(what, str(n))
    console.print(counts)
    for note in plan.notes:
        console.print(f"note: {note}")
    if plan.reuses:
        counted = plan.counts()
        from_db = counted["relaxations reused from database"]
        console.print(
            f"reuse: {len(plan.reuses)} starting relaxations will not run again "
            f"({from_db} served by the database, {len(plan.reuses) - from_db} shared between "
            "this campaign's flows)"
        )


def _reused_relaxations(plan: CampaignPlan) -> dict[int, list[str]]:
    """Candidate (by id) → ``workflows ← what serves their relaxation``, one per source."""
    by_source: dict[int, dict[str, list[str]]] = {}
    for reuse in plan.reuses:
        planned = plan.flows[reuse.flow]
        if reuse.from_flow is not None:
            source = plan.flows[reuse.from_flow].workflow
        else:
            source = f"fw {reuse.fw_id} ({str(reuse.state).lower()})"
        sources = by_source.setdefault(id(planned.candidate), {})
        sources.setdefault(source, []).append(planned.workflow)
    return {
        key: [f"{', '.join(users)} ← {source}" for source, users in sources.items()]
        for key, sources in by_source.items()
    }


def _show_vasp_jobs(plan: CampaignPlan, console: Console) -> None:
    """The atomate2 jobs each VASP flow creates at submission, as ``name (Maker)``."""
    from htflow.vasp import describe_vasp_flow

    for p in plan.flows:
        console.print(f"[bold]{p.flow.name}[/bold]: atomate2 jobs")
        for line in describe_vasp_flow(p.candidate.structure, p.workflow, plan.spec.protocol):
            console.print(f"  {line}", highlight=False)


def _submit(plan: CampaignPlan, db: str | None, agent_dir: Path | None, console: Console) -> None:
    from htflow.submit.campaign import submit_campaign

    with _progress(console) as progress:
        task = progress.add_task("submitting", total=len(plan.flows))
        result = submit_campaign(
            plan,
            db_uri=db,
            agent_dir=agent_dir.expanduser().resolve() if agent_dir else None,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    if result.mode == "queued":
        inbox = result.inbox_files[0].parent if result.inbox_files else "the inbox"
        console.print(
            f"the agent is running (pid {result.agent_pid}): {len(result.inbox_files)} flows "
            f"queued in {inbox}; it submits them at its next pass (results in {inbox}/done)"
        )
        return
    console.print(
        f"submitted {len(plan.flows) - result.duplicates} flows "
        f"({len(result.fw_ids)} Fireworks) of campaign {plan.spec.name}"
        + (f"; {result.duplicates} became duplicates meanwhile" if result.duplicates else "")
    )
