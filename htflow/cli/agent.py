"""``htflow agent``: run the one writer in the foreground, detached, stop it, report on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

agent_app = typer.Typer(
    name="agent",
    help="The agent: claims, packs, submits, watches, ingests and requeues.",
    no_args_is_help=True,
)

AgentDir = Annotated[
    Path | None, typer.Option(help="Agent directory (default: <htflow home>/agent).")
]
Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URI or directory (default: the configured one)."),
]
Profile = Annotated[
    str | None, typer.Option(help="Cluster profile name or YAML path (default: the setting).")
]


def _agent_dir(agent_dir: Path | None) -> Path:
    from htflow.settings import get_settings

    return (agent_dir or get_settings().home / "agent").expanduser().resolve()


@agent_app.command("run")
def run(  # noqa: PLR0917 (typer options)
    agent_dir: AgentDir = None,
    db: Db = None,
    profile: Profile = None,
    launch_root: Annotated[
        Path | None,
        typer.Option(help="Where launch directories go (default: <agent dir>/launches)."),
    ] = None,
    poll: Annotated[float, typer.Option(help="Seconds between idle passes.")] = 10.0,
    max_retries: Annotated[int, typer.Option(help="Requeues of a failed launch.")] = 3,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when nothing is left to do.")
    ] = False,
    log_file: Annotated[Path | None, typer.Option(help="Log here instead of stderr.")] = None,
) -> None:
    """Run the agent in the foreground until SIGTERM / Ctrl-C (or idle with --until-idle)."""
    from htflow.agent import loop
    from htflow.agent.daemon import PID_FILE
    from htflow.agent.progress import ProgressReporter, firework_snapshot
    from htflow.agent.requeue import RequeuePolicy
    from htflow.cluster import load_profile

    directory = _agent_dir(agent_dir)
    directory.mkdir(parents=True, exist_ok=True)
    loop.configure_logging(log_file)
    config = loop.AgentConfig(
        profile=load_profile(profile),
        agent_dir=directory,
        launch_root=launch_root.resolve() if launch_root else None,
        db_uri=db,
        policy=RequeuePolicy(max_retries=max_retries),
    )
    pid_file = directory / PID_FILE
    with loop.Agent(config) as agent:
        pid_file.write_text(f"{os.getpid()}\n")
        # No terminal (CI log, nohup, a batch job): a status line at least every
        # progress_interval seconds, and one at the end.
        reporter = None
        if not sys.stdout.isatty():
            reporter = ProgressReporter(lambda: firework_snapshot(agent.lp), prefix="htflow agent")
        try:
            agent.run(until=loop.until_idle if until_idle else None, poll=poll, tick=reporter)
        finally:
            pid_file.unlink(missing_ok=True)
        if reporter is not None:
            reporter(force=True)


@agent_app.command("start")
def start(
    agent_dir: AgentDir = None,
    db: Db = None,
    profile: Profile = None,
    poll: Annotated[float, typer.Option(help="Seconds between idle passes.")] = 10.0,
) -> None:
    """Start the agent detached (log in <agent dir>/agent.log); print its pid."""
    from htflow.agent.daemon import LOG_FILE, start_detached

    directory = _agent_dir(agent_dir)
    args = [
        "--agent-dir",
        str(directory),
        "--poll",
        str(poll),
        "--log-file",
        str(directory / LOG_FILE),
    ]
    if db is not None:
        args += ["--db", db]
    if profile is not None:
        args += ["--profile", profile]
    pid = start_detached(args, directory)
    typer.echo(f"agent started: pid {pid}, log {directory / LOG_FILE}")


@agent_app.command("stop")
def stop(
    agent_dir: AgentDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean exit.")] = 300.0,
) -> None:
    """SIGTERM the agent and wait until it has finished its current ingestion and exited."""
    from htflow.agent.daemon import stop as stop_agent

    pid = stop_agent(_agent_dir(agent_dir), timeout=timeout)
    typer.echo(f"agent pid {pid} stopped")


@agent_app.command("status")
def status(agent_dir: AgentDir = None, db: Db = None, profile: Profile = None) -> None:
    """Whether the agent runs, Fireworks by state, and the agent's SLURM jobs in the queue."""
    from htflow.agent.status import agent_status

    report = agent_status(_agent_dir(agent_dir), db_uri=db, profile=profile)
    typer.echo(_format(report))


def _format(report: dict[str, Any]) -> str:
    running = f"running (pid {report['pid']})" if report["pid"] else "not running"
    lines = [f"agent: {running}"]
    if report.get("lock_holder") and report["lock_holder"] != report["pid"]:
        lines.append(f"writer lock held by pid {report['lock_holder']}")
    counts = report["fireworks"]
    lines.append("fireworks: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    jobs = report["slurm_jobs"]
    lines.append("slurm jobs: " + (", ".join(f"{j} {s}" for j, s in jobs.items()) or "none"))
    if report.get("error"):
        lines.append(f"note: {report['error']}")
    return "\n".join(lines)


if __name__ == "__main__":
    from htflow.exceptions import HtflowError

    try:
        agent_app()
    except HtflowError as exc:
        print(f"htflow: error: {exc}", file=sys.stderr)
        sys.exit(2)
