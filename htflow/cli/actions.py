"""``htflow rerun | pause | resume | cancel | priority | audit``: admins steer campaigns.

Each command builds a typed request (:mod:`htflow.actions.requests`) and hands it to
:func:`htflow.actions.send`: into the running agent's inbox (``queued``; with ``--wait`` the
agent's answer is awaited), or applied at once under the writer lock when no agent runs.
A refused request is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from htflow.exceptions import HtflowError

Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URI or directory (default: the configured one)."),
]
AgentDir = Annotated[
    Path | None,
    typer.Option("--agent-dir", help="The running agent's directory (default: <home>/agent)."),
]
Wait = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for a running agent to apply the request."),
]
Campaign = Annotated[str, typer.Argument(help="The campaign (its name in the spec).")]


def _send(payload: dict[str, Any], db: str | None, agent_dir: Path | None, wait: float) -> None:
    from htflow.actions import parse_request, send

    outcome = send(parse_request(payload), agent_dir=agent_dir, db_uri=db, wait=wait)
    if outcome.status == "refused":
        raise HtflowError(f"{outcome.kind} refused: {outcome.message}")
    typer.echo(outcome.line())


def rerun(  # noqa: PLR0917 (typer options)
    campaign: Annotated[
        str | None, typer.Argument(help="Rerun FIZZLED Fireworks of this campaign.")
    ] = None,
    cause: Annotated[
        str | None,
        typer.Option("--cause", help="Only this failure cause, as `htflow status` shows it."),
    ] = None,
    match: Annotated[
        str | None,
        typer.Option("--match", help="Only failures whose message matches this regex."),
    ] = None,
    fw: Annotated[
        list[int] | None, typer.Option("--fw", help="Rerun this Firework (repeatable).")
    ] = None,
    reset_retries: Annotated[
        bool, typer.Option("--reset-retries", help="Start the requeue counters again at 0.")
    ] = False,
    db: Db = None,
    agent_dir: AgentDir = None,
    wait: Wait = 0.0,
) -> None:
    """Rerun FIZZLED Fireworks (or --fw ones); their earlier launches are archived, not lost."""
    payload = {
        "kind": "rerun",
        "campaign": campaign,
        "cause": cause,
        "match": match,
        "fw_ids": list(fw or []),
        "reset_retries": reset_retries,
    }
    _send(payload, db, agent_dir, wait)


def pause(campaign: Campaign, db: Db = None, agent_dir: AgentDir = None, wait: Wait = 0.0) -> None:
    """Start no new launch of the campaign; running ones finish."""
    _send({"kind": "pause", "campaign": campaign}, db, agent_dir, wait)


def resume(campaign: Campaign, db: Db = None, agent_dir: AgentDir = None, wait: Wait = 0.0) -> None:
    """Undo pause (or cancel: the Fireworks it defused are reignited)."""
    _send({"kind": "resume", "campaign": campaign}, db, agent_dir, wait)


def cancel(campaign: Campaign, db: Db = None, agent_dir: AgentDir = None, wait: Wait = 0.0) -> None:
    """Defuse what has not started; scancel allocations running only this campaign."""
    _send({"kind": "cancel", "campaign": campaign}, db, agent_dir, wait)


def priority(
    campaign: Campaign,
    value: Annotated[int, typer.Argument(help="The priority (higher runs first).")],
    db: Db = None,
    agent_dir: AgentDir = None,
    wait: Wait = 0.0,
) -> None:
    """Set the priority of the campaign's unfinished Fireworks (and of later ones)."""
    _send({"kind": "priority", "campaign": campaign, "priority": value}, db, agent_dir, wait)


def audit(
    campaign: Annotated[str | None, typer.Argument(help="Only this campaign.")] = None,
    db: Db = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Who asked for what, when, and what became of it (read-only)."""
    from rich.console import Console
    from rich.table import Table

    from htflow.actions import audit_log

    if limit < 0:
        raise HtflowError(f"--limit must be 0 or more, not {limit}")
    entries = audit_log(db_uri=db, campaign=campaign, limit=limit)
    if as_json:
        typer.echo(json.dumps(entries, indent=2, sort_keys=True, default=str))
        return
    if not entries:
        typer.echo("no audit entries" + (f" for campaign {campaign}" if campaign else ""))
        return
    table = Table(title="audit" + (f": campaign {campaign}" if campaign else ""))
    for column in ("applied at (UTC)", "who", "kind", "campaign", "status", "Fireworks"):
        table.add_column(column)
    table.add_column("message", overflow="fold")
    for e in entries:
        table.add_row(
            str(e.get("applied_at", ""))[:19],
            str(e.get("who", "")),
            str(e.get("kind", "")),
            str(e.get("campaign") or ""),
            str(e.get("status", "")),
            str(e.get("n_fireworks", 0)),
            str(e.get("message", "")),
        )
    Console().print(table)
