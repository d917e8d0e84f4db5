"""``htflow verify``: precision checks against references.

``--property eos`` (default): the ACWF equation-of-state check against all-electron data.
``--property elastic``: the production elastic flow against reference elastic tensors.
"""

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
PROPERTIES = ("eos", "elastic")


def verify(  # noqa: PLR0917 (typer options)
    systems: Annotated[
        list[str] | None,
        typer.Argument(
            help="eos: ELEMENT/CONFIGURATION (Si/Diamond Al/FCC MgO/XO …); elastic: material "
            "ids or formulas of the reference file (mp-134 GaAs …; none: all).",
            show_default=False,
        ),
    ] = None,
    prop: Annotated[
        str,
        typer.Option("--property", help="What to check: eos (ACWF equation of state) or elastic."),
    ] = "eos",
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
            help="eos: the study's smearing (Fermi-Dirac 0.0045 Ry) and k spacing (0.06 1/Å); "
            "cutoffs still from --protocol.",
        ),
    ] = False,
    reference: Annotated[
        str | None,
        typer.Option(help="eos: V0,B0,B1 (Å³/atom, GPa, -) for a system the shipped table lacks."),
    ] = None,
    reference_file: Annotated[
        Path | None,
        typer.Option(
            help="elastic: reference file (default: the shipped Materials Project development "
            "set, de Jong et al., Sci. Data 2, 150009 (2015))."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Run directory (default: <home>/verify/<timestamp>).")
    ] = None,
) -> None:
    """Check precision: the ACWF EOS (--property eos) or elastic constants (--property elastic)."""
    try:
        if prop not in PROPERTIES:
            raise InputError(f"unknown property {prop!r}: choose one of {', '.join(PROPERTIES)}")
        if prop == "elastic":
            if acwf_settings or reference is not None:
                raise InputError(
                    "--acwf-settings and --reference apply to --property eos; for elastic "
                    "references pass --reference-file"
                )
            failed = _verify_elastic(
                systems or [],
                protocol=protocol,
                pseudo_family=pseudo_family,
                reference_file=reference_file,
                as_json=as_json,
                workdir=workdir or _default_root(),
            )
            if failed:
                raise typer.Exit(1)
            return
        if reference_file is not None:
            raise InputError(
                "--reference-file applies to --property elastic; for eos use --reference"
            )
        if not systems:
            raise InputError("name at least one system, e.g. htflow verify Si/Diamond")
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


def _verify_elastic(
    materials: list[str],
    *,
    protocol: str,
    pseudo_family: str | None,
    reference_file: Path | None,
    as_json: bool,
    workdir: Path,
) -> bool:
    """Check everything, run each material, print; True when a flow failed."""
    from htflow.verify.elastic_reference import load_elastic_references
    from htflow.verify.elastic_report import elastic_payload, print_elastic_table
    from htflow.verify.elastic_runner import check_elastic_inputs, run_elastic_verify

    references = load_elastic_references(reference_file)
    chosen = references.select(materials)
    reasons = check_elastic_inputs(chosen, protocol, pseudo_family)
    console = Console(stderr=as_json)
    results = []
    for ref in chosen:
        where = workdir / _slug(ref.material_id)
        reason = reasons[ref.material_id]
        console.print(
            f"skipping {ref.label}: {reason}"
            if reason
            else f"running {ref.label} (elastic flow: relax, strained cells, fit) in {where} …"
        )
        result = run_elastic_verify(
            ref, where, protocol, pseudo_family, reference_file=references.path
        )
        if result.status == "failed":
            console.print(f"{ref.label} failed: {result.reason}")
        results.append(result)
    if as_json:
        typer.echo(json.dumps(elastic_payload(results, references), indent=1, ensure_ascii=False))
    else:
        print_elastic_table(results, Console(width=160), references)
    return any(r.status == "failed" for r in results)


def _default_root() -> Path:
    return get_settings().home / "verify" / datetime.now().strftime("%Y%m%d-%H%M%S")


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
    root = workdir or _default_root()
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
