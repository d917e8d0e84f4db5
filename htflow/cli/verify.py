"""``htflow verify``: the ACWF equation-of-state check against all-electron references."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from htflow.exceptions import HtflowError, InputError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from htflow.verify.runner import VerifyResult

VERDICT_STYLE = {"excellent": "green", "good": "yellow", "outside": "red"}


def verify(  # noqa: PLR0917 (typer options)
    systems: Annotated[
        list[str],
        typer.Argument(help="Systems as ELEMENT/CONFIGURATION: Si/Diamond Al/FCC MgO/XO …"),
    ],
    protocol: Annotated[
        str, typer.Option(help="fast, balanced, stringent or verification (the study's sampling).")
    ] = "balanced",
    pseudo_family: Annotated[
        str | None, typer.Option(help="Pseudo family (default: the pseudo_family setting).")
    ] = None,
    acwf_settings: Annotated[
        bool,
        typer.Option(
            "--acwf-settings",
            help="The study's smearing (Fermi-Dirac 0.0045 Ry) and k spacing (0.06 1/Å); "
            "cutoffs still from --protocol.",
        ),
    ] = False,
    reference: Annotated[
        str | None,
        typer.Option(help="V0,B0,B1 (Å³/atom, GPa, -) for a system the shipped table lacks."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Run directory (default: <home>/verify/<timestamp>).")
    ] = None,
) -> None:
    """Run the 7-volume PBE EOS, fit Birch–Murnaghan, and compare with the AE average."""
    try:
        _verify(
            systems,
            protocol=protocol,
            pseudo_family=pseudo_family,
            acwf_settings=acwf_settings,
            reference=reference,
            as_json=as_json,
            workdir=workdir,
        )
    except HtflowError as exc:
        typer.echo(f"htflow: error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _verify(
    systems: list[str],
    *,
    protocol: str,
    pseudo_family: str | None,
    acwf_settings: bool,
    reference: str | None,
    as_json: bool,
    workdir: Path | None,
) -> None:
    from htflow.qe.sets.protocol import load_protocol
    from htflow.verify.reference import get_reference, parse_reference, parse_system
    from htflow.verify.runner import check_family, run_verify

    given = parse_reference(reference) if reference is not None else None
    if given is not None and len(systems) != 1:
        raise InputError("--reference applies to one system: name exactly one system with it")
    load_protocol(protocol)  # an unknown protocol fails before any run
    references = [get_reference(parse_system(s), given) for s in systems]
    for ref in references:
        check_family(ref, pseudo_family)
    root = workdir or get_settings().home / "verify" / datetime.now().strftime("%Y%m%d-%H%M%S")
    console = Console(stderr=as_json)
    results = []
    for ref in references:
        label = ref.system.label
        if not as_json:
            console.print(f"running {label} (7 pw.x runs) in {root / _slug(label)} …")
        results.append(run_verify(ref, root / _slug(label), protocol, pseudo_family, acwf_settings))
    if as_json:
        payload = {
            "results": [json.loads(r.model_dump_json()) for r in results],
            "units": {
                "v0": "Å³/atom",
                "b0": "GPa",
                "b1": "dimensionless",
                "energy_per_atom": "eV/atom",
                "delta": "meV/atom",
                "core_seconds": "s",
            },
        }
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False))
        return
    print_table(results, Console(width=160), acwf_settings)


def print_table(results: list[VerifyResult], console: Console, acwf_settings: bool) -> None:
    """The verification table: computed (reference) V0, B0, B1, then ε, ν, Δ and the verdict."""
    if not results:
        return
    first = results[0]
    settings = "ACWF settings (fd 0.0045 Ry, k 0.06 1/Å)" if acwf_settings else first.protocol
    table = Table(
        title=f"ACWF verification: {first.pseudo_family}, {settings}, cutoffs of {first.protocol}"
    )
    for column in ("system", "V0 Å³/at", "B0 GPa", "B1", "ε", "ν", "Δ meV/at", "verdict"):
        table.add_column(column, justify="left" if column in ("system", "verdict") else "right")
    for r in results:
        m = r.metrics
        style = VERDICT_STYLE[m.verdict]
        table.add_row(
            r.system,
            f"{r.computed.v0:.3f} ({r.reference.v0:.3f})",
            f"{r.computed.b0:.1f} ({r.reference.b0:.1f})",
            f"{r.computed.b1:.2f} ({r.reference.b1:.2f})",
            f"{m.epsilon:.3f}",
            f"{m.nu:.3f}",
            f"{m.delta:.3f}",
            f"[{style}]{m.verdict}[/{style}]",
        )
    console.print(table)
    console.print(
        "In parentheses: the reference, i.e. the all-electron average (WIEN2k, FLEUR) of "
        "Bosoni et al., Nat. Rev. Phys. 6, 45 (2024), unless given with --reference. "
        "Excellent: ε < 0.06 and ν < 0.10; good: ε < 0.20 and ν < 0.33."
    )


def _slug(label: str) -> str:
    return label.replace("/", "-")
