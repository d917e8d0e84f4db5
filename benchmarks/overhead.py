"""Overhead of htflow against a plain pw.x loop, and of one SLURM job per calculation.

The same N small real pw.x calculations (Si statics, fast protocol, distinct lattice
constants) run three ways, one at a time on one core:

1. a plain shell loop calling pw.x on the prepared inputs (the floor);
2. htflow: the agent packs all of them into one allocation (one worker runs them in turn);
3. one SLURM job per calculation (what atomate2 + FireWorks users do by default), still
   through the agent so claiming and ingestion cost the same.

Modes 1 and 2 run ``--repeat`` times, alternately, so slow drifts of the machine hit both
alike; the ratio 2/1 reported is the median of the pairs' ratios, and each pair is printed.
The agent runs with its default poll (10 s): it wakes on the workers' activity files, not on
a short poll. For each packed run the timeline from the launch records is printed: agent
start to the first calculation, and the last calculation to the agent's exit.

Prints the wall times and the ratios 2/1 and 3/2 (target 2/1 ≤ 1.15). Needs the local
SLURM (``htflow cluster up``; ``SLURM_CONF`` pointing at it) and root.

    .venv/bin/python benchmarks/overhead.py [--n 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jobflow import Flow
from pymatgen.core import Lattice, Structure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def structures(n: int) -> list[Structure]:
    out = []
    for i in range(n):
        a = 5.30 + 0.01 * i
        lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
        out.append(Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]]))
    return out


def maker():
    from htflow.qe.jobs import StaticMaker
    from htflow.qe.sets import PwInputGenerator

    return StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", protocol="fast"))


def floor(n: int, work: Path) -> float:
    """Prepared inputs, then a shell loop of pw.x (what a user would type)."""
    dirs = []
    for i, structure in enumerate(structures(n)):
        directory = work / f"calc{i:03d}"
        directory.mkdir(parents=True)
        maker().get_input(structure).write(directory)
        dirs.append(str(directory))
    script = 'for d in "$@"; do (cd "$d" && pw.x -in pw.in > pw.out); done'
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script, "loop", *dirs], check=True, env=env)
    return time.perf_counter() - start


def timeline(work: Path, started: float, ended: float) -> tuple[float, float]:
    """Seconds from agent start to the first calculation, and from the last one to the end."""
    from htflow.launch.worker import attempts

    starts, ends = [], []
    for launch_dir in (work / "agent" / "launches").iterdir():
        for record in attempts(launch_dir):
            (starts if record.get("event") == "start" else ends).append(record["time"])
    return min(starts) - started, ended - max(ends)


def through_agent(n: int, work: Path, per_allocation: int) -> float:
    """Submit N statics, run the agent until idle; wall time from agent start to the end."""
    from htflow.agent.loop import Agent, AgentConfig, until_idle
    from htflow.cluster import load_profile
    from htflow.cluster.profile import PROFILE_DIR
    from htflow.db import get_launchpad
    from htflow.submit import submit_flow

    data = yaml.safe_load((PROFILE_DIR / "local.yaml").read_text())
    data.update(
        name="bench",
        tasks_per_node=1,
        cpus_per_task=2,  # one allocation at a time on the 2-core node: serial, like the floor
        ranks_per_calculation=1,
        calculations_per_allocation=per_allocation,
        max_jobs_in_queue=max(1, n // per_allocation),
        resources={},
        routing={},
    )
    work.mkdir(parents=True, exist_ok=True)
    profile_path = work / "bench.yaml"
    profile_path.write_text(yaml.safe_dump(data))
    db = f"file://{work}/db"
    lp = get_launchpad(db)
    for structure in structures(n):
        submit_flow(Flow([maker().make(structure)]), lp, dedupe=False)
    config = AgentConfig(profile=load_profile(profile_path), agent_dir=work / "agent", db_uri=db)
    start, wall_start = time.perf_counter(), time.time()
    with Agent(config) as agent:
        agent.run(until=until_idle)
    elapsed = time.perf_counter() - start
    first, last = timeline(work, wall_start, time.time())
    print(
        f"  {work.name}: {elapsed:.1f} s; agent start -> first calculation {first:.2f} s, "
        f"last calculation -> agent exit {last:.2f} s",
        flush=True,
    )
    done = lp.fireworks.count_documents({"state": "COMPLETED"})
    if done != n:
        raise SystemExit(f"only {done} of {n} calculations completed: see {work}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="number of calculations")
    parser.add_argument(
        "--repeat", type=int, default=3, help="alternating runs of modes 1 and 2 (median ratio)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    pairs = []
    with tempfile.TemporaryDirectory(prefix="htflow-overhead-") as tmp:
        root = Path(tmp)
        for k in range(args.repeat):
            t1 = floor(args.n, root / f"floor-{k}")
            t2 = through_agent(args.n, root / f"packed-{k}", per_allocation=args.n)
            pairs.append((t1, t2))
        t3 = through_agent(args.n, root / "one-per-job", per_allocation=1)
    print(f"{args.n} pw.x calculations, one at a time")
    for k, (t1, t2) in enumerate(pairs):
        print(
            f"pair {k + 1}: 1 plain pw.x loop {t1:6.1f} s   2 htflow packed {t2:6.1f} s   "
            f"2/1 = {t2 / t1:.2f}"
        )
    t1 = statistics.median(p[0] for p in pairs)
    t2 = statistics.median(p[1] for p in pairs)
    print(f"1 plain pw.x loop          {t1:8.1f} s (median)")
    print(f"2 htflow, packed           {t2:8.1f} s (median)")
    print(f"3 one SLURM job per calc   {t3:8.1f} s")
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    print(f"ratio 2/1 = {ratio:.2f} (median of {len(pairs)} pairs; target <= 1.15)")
    print(f"ratio 3/2 = {t3 / t2:.2f}")


if __name__ == "__main__":
    main()
