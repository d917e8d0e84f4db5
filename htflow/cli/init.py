"""``htflow init``: write a commented ``~/.htflow.yaml`` with every setting and its default."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from htflow.exceptions import HtflowError, InputError

HEADER = """\
# htflow settings. Environment variables HTFLOW_<NAME> override this file.
# Uncomment a line to change a setting; docs/quickstart.md explains the common ones.
"""


def init(  # noqa: PLR0917 (typer options)
    path: Annotated[
        Path | None,
        typer.Option(help="Where to write (default: $HTFLOW_CONFIG_FILE or ~/.htflow.yaml)."),
    ] = None,
    home: Annotated[str | None, typer.Option(help="htflow home directory.")] = None,
    db_uri: Annotated[
        str | None, typer.Option(help="mongodb:// URI (default: embedded store in home/db).")
    ] = None,
    cluster_profile: Annotated[
        str | None, typer.Option(help="Cluster profile name or YAML path.")
    ] = None,
    pseudo_family: Annotated[str | None, typer.Option(help="Pseudopotential family.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented settings file; values given as options are set, the rest commented."""
    from htflow.settings import config_file_path

    try:
        target = (path or config_file_path()).expanduser()
        if target.exists() and not force:
            raise InputError(f"{target} exists: pass --force to overwrite it")
        chosen = {
            "home": home,
            "db_uri": db_uri,
            "cluster_profile": cluster_profile,
            "pseudo_family": pseudo_family,
        }
        text = render_config({k: v for k, v in chosen.items() if v is not None})
        _validate(text, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except HtflowError as exc:
        print(f"htflow: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {target}")


def render_config(values: dict[str, Any]) -> str:
    """The settings file: every field with its description; ``values`` uncommented."""
    from htflow.settings import HtflowSettings

    lines = [HEADER]
    for name, field in HtflowSettings.model_fields.items():
        lines.append(f"# {field.description}")
        if name in values:
            lines.append(_dump(name, values[name]))
        else:
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            lines.append("# " + _dump(name, str(default) if isinstance(default, Path) else default))
        lines.append("")
    return "\n".join(lines)


def _dump(name: str, value: Any) -> str:
    return yaml.safe_dump({name: value}, default_flow_style=True, width=200).strip().strip("{}")


def _validate(text: str, target: Path) -> None:
    from htflow.settings import HtflowSettings

    data = yaml.safe_load(text) or {}
    try:
        HtflowSettings.model_validate(data)
    except Exception as exc:
        raise InputError(f"{target}: the values given are not valid settings ({exc})") from None
