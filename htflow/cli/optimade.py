"""``htflow optimade serve``: the materials collection as an OPTIMADE v1 API (docs/optimade.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from htflow.cli.results import one_line_errors

optimade_app = typer.Typer(
    name="optimade",
    help="The OPTIMADE API over the materials (read-only; see docs/optimade.md).",
    no_args_is_help=True,
)


@optimade_app.command("serve")
def serve(  # noqa: PLR0917 (typer options)
    host: Annotated[
        str, typer.Option(help="Address to bind (non-loopback: TLS, and users unless --public).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 5001,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI or directory (default: configured).")
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option(
            "--users", help="Users file for HTTP basic auth (default: the dashboard's users)."
        ),
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="Serve without sign-in (the data are for everyone).")
    ] = False,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="Base URL clients use, behind a proxy (default: from each request)."),
    ] = None,
) -> None:
    """Serve OPTIMADE v1 (structures, references, links, info) until Ctrl-C."""
    from htflow.optimade.server import serve as serve_api

    if users is not None and public:
        typer.echo("htflow: error: --users and --public exclude each other", err=True)
        raise typer.Exit(2)
    with one_line_errors():
        serve_api(
            host=host,
            port=port,
            uri=db,
            users_file=users,
            public=public,
            cert=cert,
            key=key,
            public_url=public_url,
            announce=typer.echo,
        )
