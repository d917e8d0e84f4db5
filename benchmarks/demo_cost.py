"""The demo's DFT cost with and without the funnel and the reuse of relaxations.

    .venv/bin/python benchmarks/demo_cost.py --runs 1 --out /tmp/demo_cost
    .venv/bin/python benchmarks/demo_cost.py --summarize /tmp/demo_cost/after-1 \
        /tmp/demo_cost/before-1

Runs ``htflow demo`` on two campaigns in one invocation, alternating (after, before, after,
…), each in its own output directory and database:

- **after**: ``workflows/demo.yaml`` as shipped (the CHGNet funnel, job-level reuse);
- **before**: the same file without its ``funnel:`` section and with
  ``dedupe.against_database: false``, which turns off the reuse of relaxations as well.

For each run it reads the JobStore of the run's database and prints the DFT cost: pw.x runs,
vc-relaxations, ionic steps, and core-seconds (Σ pw.x CPU time × MPI ranks: CPU, not wall, so
a busy machine inflates it less), the ML jobs' count, and the demo's wall time; then the
medians and the after/before ratios. The "before" campaign computes three more materials
(the funnel's screened-out polymorphs); the per-material ratio is printed beside the total.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflows" / "demo.yaml"


def before_campaign(directory: Path) -> Path:
    """The demo without its funnel and without reuse (``dedupe.against_database: false``)."""
    spec = yaml.safe_load(DEMO.read_text())
    spec.pop("funnel", None)
    spec["dedupe"] = {**spec.get("dedupe", {}), "against_database": False}
    path = directory / "demo-before.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_demo(out: Path, campaign: Path) -> float:
    """Run ``htflow demo`` into ``out``; returns its wall time (s)."""
    start = time.monotonic()
    command = [str(Path(sys.executable).parent / "htflow"), "demo", "--out", str(out)]
    command += ["--campaign", str(campaign), "--timeout", "7200"]
    with (out.parent / f"{out.name}.log").open("w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - start
    (out / "wall_seconds.txt").write_text(f"{wall:.1f}\n")
    return wall


def summarize(out: Path) -> dict[str, Any]:
    """DFT and ML cost of one demo run, read from its embedded database (``out/home/db``)."""
    from htflow.db import get_jobstore
    from htflow.db.collections import open_database

    uri = f"file://{out / 'home' / 'db'}"
    store = get_jobstore(uri)
    store.connect()
    try:
        docs = list(store.docs_store.query({}, properties=["output", "name"]))
    finally:
        store.close()
    outputs = [d["output"] for d in docs if isinstance(d.get("output"), dict)]
    pw = [o for o in outputs if "pw_input" in (o.get("input") or {})]
    core_s = sum(
        ((o.get("output") or {}).get("cpu_time") or 0.0) * (o.get("nprocs") or 1) for o in pw
    )
    relaxes = [o for o in pw if _calculation(o) == "vc-relax"]
    with open_database(uri) as (db, _):
        n_materials = db["materials"].count_documents({})
    wall_file = out / "wall_seconds.txt"
    return {
        "run": out.name,
        "pw_runs": len(pw),
        "vc_relax": len(relaxes),
        "ionic_steps": sum((o.get("output") or {}).get("n_ionic_steps") or 0 for o in relaxes),
        "core_seconds": core_s,
        "ml_jobs": sum(1 for d in docs if str(d.get("name", "")).startswith("ml ")),
        "materials": n_materials,
        "wall_seconds": float(wall_file.read_text()) if wall_file.is_file() else None,
    }


def _calculation(task: dict[str, Any]) -> str | None:
    control = ((task.get("input") or {}).get("pw_input") or {}).get("control") or {}
    return control.get("calculation")


def report(rows: list[dict[str, Any]]) -> str:
    keys = ("pw_runs", "vc_relax", "ionic_steps", "core_seconds", "ml_jobs", "materials")
    lines = ["| run | " + " | ".join(keys) + " | wall s |", "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        wall = "" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f}"
        cells = [f"{r[k]:.0f}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        lines.append(f"| {r['run']} | " + " | ".join(cells) + f" | {wall} |")
    groups = {g: [r for r in rows if r["run"].startswith(g)] for g in ("after", "before")}
    if all(groups.values()):
        med = {
            g: {k: statistics.median(r[k] for r in rs) for k in ("core_seconds", "pw_runs")}
            for g, rs in groups.items()
        }
        for g, rs in groups.items():
            walls = [r["wall_seconds"] for r in rs if r["wall_seconds"] is not None]
            med[g]["wall"] = statistics.median(walls) if walls else float("nan")
            med[g]["per_material"] = med[g]["core_seconds"] / statistics.median(
                r["materials"] for r in rs
            )
        ratio = {k: med["after"][k] / med["before"][k] for k in med["after"]}
        lines.append("")
        lines.append(
            "after/before (medians): DFT core-s {core_seconds:.2f}, pw.x runs {pw_runs:.2f}, "
            "core-s per material {per_material:.2f}, wall {wall:.2f}".format(**ratio)
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each campaign")
    parser.add_argument("--out", type=Path, default=Path("/tmp/demo_cost"))
    parser.add_argument("--summarize", type=Path, nargs="*", help="demo output dirs; no runs")
    args = parser.parse_args()
    if args.summarize:
        print(report([summarize(p) for p in args.summarize]))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    before = before_campaign(args.out)
    rows = []
    for i in range(1, args.runs + 1):
        order = [("after", DEMO), ("before", before)]
        for name, campaign in order if i % 2 else order[::-1]:  # alternate the order
            out = args.out / f"{name}-{i}"
            run_demo(out, campaign)
            rows.append(summarize(out))
            print(json.dumps(rows[-1]), flush=True)
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
