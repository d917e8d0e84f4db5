"""``htflow dashboard``: serve the campaign dashboard; ``htflow dashboard users``: its users."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from htflow.cli.results import one_line_errors

dashboard_app = typer.Typer(
    name="dashboard",
    help="The campaign dashboard (sign-in required; see docs/dashboard.md).",
    invoke_without_command=True,
)
users_app = typer.Typer(name="users", help="Dashboard users and roles.", no_args_is_help=True)
dashboard_app.add_typer(users_app, name="users")

UsersFile = Annotated[
    Path | None,
    typer.Option("--users", help="Users file (default: <htflow home>/dashboard_users.yaml)."),
]


@dashboard_app.callback()
def dashboard(  # noqa: PLR0917 (typer options)
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind (non-loopback: TLS and users).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 5000,
    users: UsersFile = None,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    agent_dir: Annotated[
        Path | None, typer.Option(help="The running agent's directory (actions go to its inbox).")
    ] = None,
) -> None:
    """Serve the dashboard (waitress; gunicorn with --cert/--key) until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from htflow.dashboard import serve

    with one_line_errors():
        serve(
            host=host,
            port=port,
            uri=db,
            users_file=users,
            cert=cert,
            key=key,
            agent_dir=agent_dir,
            announce=lambda line: typer.echo(line, err=False),
        )


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="viewer (read) or admin (read and act).")] = "viewer",
    users: UsersFile = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user (or change a user's password and role); the file is written 0600."""
    from htflow.dashboard.users import add_user, default_users_file

    path = users or default_users_file()
    with one_line_errors():
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        new = add_user(path, name, password, role)  # type: ignore[arg-type]
    typer.echo(f"{'added' if new else 'updated'} {name} ({role}) in {path}")


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")], users: UsersFile = None
) -> None:
    """Remove a user (signed-in sessions of that user end at their next request)."""
    from htflow.dashboard.users import default_users_file, remove_user

    path = users or default_users_file()
    with one_line_errors():
        remove_user(path, name)
    typer.echo(f"removed {name} from {path}")


@users_app.command("list")
def list_users(users: UsersFile = None) -> None:
    """The users and their roles (never the hashes)."""
    from htflow.dashboard.users import default_users_file, read_users

    path = users or default_users_file()
    with one_line_errors():
        records = read_users(path)
    if not records:
        typer.echo(f"no users in {path}")
    for name, record in sorted(records.items()):
        typer.echo(f"{name}\t{record.role}")
