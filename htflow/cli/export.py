"""``htflow export``: materials to CGCNN, extended XYZ or parquet; ``htflow export build``.

The three exports name their columns the same way (``--property``, repeated for extended
XYZ and parquet), and each carries ``material_id`` and the quality of every property in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from htflow.exceptions import HtflowError, InputError

export_app = typer.Typer(
    name="export",
    help="Export materials for ML (CGCNN, extended XYZ, parquet).",
    no_args_is_help=True,
)

FilterOpt = Annotated[
    str | None,
    typer.Option("--filter", help='MongoDB filter as JSON, e.g. \'{"band_gap": {"$gt": 1}}\'.'),
]
UriOpt = Annotated[str | None, typer.Option("--db", help="Database URI (default: HTFLOW_DB_URI).")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing export.")]
SuspectOpt = Annotated[
    bool,
    typer.Option(
        "--include-suspect",
        help="Keep values whose quality is 'suspect' (left out by default; see docs/ml_access.md).",
    ),
]


def _criteria(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--filter is not valid JSON ({exc.msg}): quote it, e.g. '{{\"band_gap\": 0}}'"
        ) from None
    if not isinstance(value, dict):
        raise InputError('--filter must be a JSON object, e.g. \'{"elements": "Si"}\'')
    return value


def _fail(exc: HtflowError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _report(n: int, target: Path, left_out: int, what: str) -> None:
    line = f"wrote {n} materials to {target}"
    if left_out:
        line += f"; left out {left_out} suspect {what} (--include-suspect keeps them)"
    typer.echo(line)


@export_app.command("cgcnn")
def cgcnn(  # noqa: PLR0917 (typer options)
    target: Annotated[Path, typer.Argument(help="Directory to create.")],
    prop: Annotated[
        str, typer.Option("--property", help="Target property, e.g. formation_energy_per_atom.")
    ],
    filter_: FilterOpt = None,
    db: UriOpt = None,
    overwrite: OverwriteOpt = False,
    include_suspect: SuspectOpt = False,
) -> None:
    """One CIF per material, id_prop.csv, id_prop_quality.csv and atom_init.json."""
    from htflow.db.exports import export_cgcnn

    try:
        n = export_cgcnn(
            target,
            prop,
            _criteria(filter_),
            uri=db,
            overwrite=overwrite,
            include_suspect=include_suspect,
        )
    except HtflowError as exc:
        raise _fail(exc) from None
    _report(n, target, n.left_out, "materials")


@export_app.command("extxyz")
def extxyz(  # noqa: PLR0917 (typer options)
    target: Annotated[Path, typer.Argument(help="File to write (.xyz).")],
    properties: Annotated[
        list[str],
        typer.Option(
            "--property", help="Property to include (repeat); material_id is always there."
        ),
    ],
    filter_: FilterOpt = None,
    db: UriOpt = None,
    overwrite: OverwriteOpt = False,
    include_suspect: SuspectOpt = False,
) -> None:
    """Extended XYZ: one frame per material, properties and their quality in the info line."""
    from htflow.db.exports import export_extxyz

    try:
        n = export_extxyz(
            target,
            properties,
            _criteria(filter_),
            uri=db,
            overwrite=overwrite,
            include_suspect=include_suspect,
        )
    except HtflowError as exc:
        raise _fail(exc) from None
    _report(n, target, n.left_out, "values")


@export_app.command("parquet")
def parquet(  # noqa: PLR0917 (typer options)
    target: Annotated[Path, typer.Argument(help="File to write (.parquet).")],
    fields: Annotated[
        list[str],
        typer.Option(
            "--property",
            "--field",
            help="Column to include (repeat); material_id always comes first. "
            "--field is the old name.",
        ),
    ],
    filter_: FilterOpt = None,
    db: UriOpt = None,
    overwrite: OverwriteOpt = False,
    include_suspect: SuspectOpt = False,
) -> None:
    """A table of the chosen fields and their quality columns (nested fields as JSON)."""
    from htflow.db.exports import export_parquet

    try:
        n = export_parquet(
            target,
            fields,
            _criteria(filter_),
            uri=db,
            overwrite=overwrite,
            include_suspect=include_suspect,
        )
    except HtflowError as exc:
        raise _fail(exc) from None
    _report(n, target, n.left_out, "values")


@export_app.command("build")
def build(db: UriOpt = None) -> None:
    """Run the materials builder on new task documents (take the writer lock first)."""
    from htflow.builders import build_materials
    from htflow.db import writer_lock

    try:
        with writer_lock(db):
            report = build_materials(db)
    except HtflowError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"{report.new_tasks} new tasks, {len(report.created)} materials created, "
        f"{len(report.written)} written, {len(report.pending)} pending"
    )
    if report.missing_references:
        typer.echo(f"missing elemental references: {', '.join(report.missing_references)}")
