"""Throughput of the agent: N no-op jobs through the embedded store and the local SLURM.

Submits N one-job flows, runs the agent (packing ``--per-allocation`` launches into each
allocation, 2 allocations at a time on the 2-core node) until everything is ingested, and
prints jobs per hour. Then it measures the claim latency — one batched ``ready_fw_ids`` query
plus reserving one Firework — with ``--queued`` workflows READY.

For comparison: AiiDA's documented benchmark gives about 7,700 processes per hour with one
worker and 22,000 with four.

    .venv/bin/python benchmarks/throughput.py            # 1,000 jobs, 20,000 queued
    .venv/bin/python benchmarks/throughput.py --n 10000  # the full run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jobflow import Flow

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_jobs(n: int, per_allocation: int, work: Path) -> float:
    from benchmarks.noop_jobs import noop
    from htflow.agent.loop import Agent, AgentConfig, until_idle
    from htflow.cluster import load_profile
    from htflow.cluster.profile import PROFILE_DIR
    from htflow.db import get_launchpad
    from htflow.submit import submit_flow

    data = yaml.safe_load((PROFILE_DIR / "local.yaml").read_text())
    data.update(
        name="throughput",
        tasks_per_node=1,
        ranks_per_calculation=1,
        calculations_per_allocation=per_allocation,
        max_jobs_in_queue=2,
        resources={},
        routing={},
    )
    work.mkdir(parents=True, exist_ok=True)
    profile = work / "throughput.yaml"
    profile.write_text(yaml.safe_dump(data))
    db = f"file://{work}/db"
    lp = get_launchpad(db)
    for i in range(n):
        submit_flow(Flow([noop(i)]), lp, dedupe=False)
    config = AgentConfig(profile=load_profile(profile), agent_dir=work / "agent", db_uri=db)
    start = time.perf_counter()
    with Agent(config) as agent:
        agent.run(until=until_idle, poll=0.2)
    elapsed = time.perf_counter() - start
    done = lp.fireworks.count_documents({"state": "COMPLETED"})
    if done != n:
        raise SystemExit(f"only {done} of {n} jobs completed: see {work}")
    return elapsed


def claim_latency(queued: int, work: Path) -> tuple[float, float, float]:
    """(add_wf time for ``queued`` workflows, first and second find-and-reserve, s).

    The first claim also builds the store's in-process index of the collection (what an
    agent pays once after start-up); the second is what each later pass pays.
    """
    from fireworks import Firework, Workflow
    from fireworks.core.firework import FWorker
    from fireworks.user_objects.firetasks.script_task import ScriptTask

    from htflow.db import get_launchpad, ready_fw_ids

    lp = get_launchpad(f"file://{work}/claimdb")
    start = time.perf_counter()
    for i in range(queued):
        lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name=f"q{i}")]))
    added = time.perf_counter() - start
    latencies = []
    for _ in range(2):
        start = time.perf_counter()
        (fw_id,) = ready_fw_ids(lp, 1)
        lp.reserve_fw(FWorker(name="bench"), str(work), fw_id=fw_id)
        latencies.append(time.perf_counter() - start)
    return added, latencies[0], latencies[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="no-op jobs (full run: 10000; 0: none)")
    parser.add_argument("--per-allocation", type=int, default=250, help="launches per allocation")
    parser.add_argument("--queued", type=int, default=20000, help="READY workflows for latency")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory(prefix="htflow-throughput-") as tmp:
        if args.n:
            elapsed = run_jobs(args.n, args.per_allocation, Path(tmp))
            rate = args.n / elapsed * 3600
            print(f"{args.n} no-op jobs in {elapsed:.1f} s: {rate:,.0f} jobs/hour")
            print("(AiiDA documented: ~7,700 processes/hour with 1 worker, ~22,000 with 4)")
        if args.queued:
            added, first, warm = claim_latency(args.queued, Path(tmp))
            print(
                f"{args.queued} workflows added in {added:.1f} s; claim latency {first:.2f} s "
                f"(first, builds the index), {warm:.2f} s (next)"
            )


if __name__ == "__main__":
    main()
