"""``htflow dashboard``: serve FireWorks' web GUI for the configured database."""

from __future__ import annotations

from typing import Annotated

import typer


def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
) -> None:
    """Serve the dashboard (read-only; basic auth when HTFLOW_DASHBOARD_PASSWORD is set)."""
    from htflow.dashboard import serve

    typer.echo(f"htflow dashboard on http://{host}:{port} (Ctrl-C stops it)")
    serve(host=host, port=port)
