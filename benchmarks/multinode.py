"""Multi-node packing and node loss on the local SLURM with namespaced nodes.

Brings up (or reuses) a three-node local cluster (``htflow cluster up --nodes 3``: each
slurmd in its own network namespace) and runs, through the agent:

1. **Packing across nodes.** ``--n`` small statics (2-atom cells, fast protocol) on
   3 nodes × 1 core, packed into one allocation whose three streams start each
   calculation as an ``srun --exclusive -N1`` step; and the same work on 1 node × 1 core.
   The two alternate ``--repeat`` times; the speed-up 1×1 / 3×1 is printed per pair and
   as the median (ideal 3×). The namespaced nodes share this machine's cores: with fewer
   than three real cores, three nodes × 1 core oversubscribe them, and the speed-up is
   bounded by the real cores, not by htflow.
2. **Node loss.** The same statics on allocations of 2 of the 3 nodes; once a few are
   done, every process of a node that runs a calculation (not the batch host) is killed,
   as in a power cut. Printed: seconds from the kill to SLURM marking the node DOWN, to
   the agent seeing the allocation end (NODE_FAIL), and to the dead node's calculations
   running again on another node (from their ``pw.hosts``).

Needs root (namespaces), slurm-wlm, munge, libpmix-dev and pw.x.

    .venv/bin/python benchmarks/multinode.py [--n 40] [--repeat 2] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml
from jobflow import Flow
from pymatgen.core import Lattice, Structure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ELEMENTS = (("Si", 5.30, 2), ("C", 3.50, 2), ("Al", 3.95, 1))


def structures(n: int) -> list[Structure]:
    """``n`` tiny cells: diamond Si and C, fcc Al, each lattice constant distinct."""
    out = []
    for i in range(n):
        symbol, a0, atoms = ELEMENTS[i % len(ELEMENTS)]
        a = a0 + 0.01 * (i // len(ELEMENTS))
        h = a / 2
        lattice = Lattice([[0, h, h], [h, 0, h], [h, h, 0]])
        basis = [[0, 0, 0], [0.25, 0.25, 0.25]][:atoms]
        out.append(Structure(lattice, [symbol] * atoms, basis))
    return out


def write_profile(work: Path, name: str, **overrides: Any) -> Path:
    from htflow.cluster.profile import PROFILE_DIR

    data = yaml.safe_load((PROFILE_DIR / "local-multinode.yaml").read_text())
    data.update(name=name, calculations_per_allocation=100, max_jobs_in_queue=1, **overrides)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_campaign(n: int, work: Path, profile: Path, tick: Any = None) -> float:
    """Submit ``n`` statics and run the agent until they are done; wall time (s)."""
    from htflow.agent.loop import Agent, AgentConfig, until_idle
    from htflow.cluster import load_profile
    from htflow.db import get_launchpad
    from htflow.qe.jobs import StaticMaker
    from htflow.qe.sets import PwInputGenerator
    from htflow.submit import submit_flow

    maker = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", protocol="fast"))
    db = f"file://{work}/db"
    lp = get_launchpad(db)
    for structure in structures(n):
        submit_flow(Flow([maker.make(structure)]), lp, dedupe=False)
    config = AgentConfig(profile=load_profile(profile), agent_dir=work / "agent", db_uri=db)
    start = time.perf_counter()
    with Agent(config) as agent:
        agent.run(until=until_idle, poll=0.2, tick=(lambda: tick(agent)) if tick else None)
    elapsed = time.perf_counter() - start
    done = lp.fireworks.count_documents({"state": "COMPLETED"})
    if done != n:
        raise SystemExit(f"only {done} of {n} statics completed: see {work}")
    return elapsed


def packing(n: int, repeat: int, work: Path) -> None:
    one = write_profile(work, "one-node", nodes=1)
    three = write_profile(work, "three-nodes", nodes=3)
    ratios = []
    for i in range(repeat):
        single = run_campaign(n, work / f"1x1-{i}", one)
        multi = run_campaign(n, work / f"3x1-{i}", three)
        ratios.append(single / multi)
        print(
            f"pair {i + 1}: 1 node x 1 core {single:.1f} s, 3 nodes x 1 core {multi:.1f} s, "
            f"speed-up {single / multi:.2f}x",
            flush=True,
        )
    print(f"median speed-up {statistics.median(ratios):.2f}x (ideal 3x; {n} statics)")


class NodeKiller:
    """Kill a non-batch node that runs a calculation, after ``after`` launches are done."""

    def __init__(self, status: Any, after: int) -> None:
        self.status = status
        self.after = after
        self.killed: dict[str, Any] = {}
        self.down_at: float | None = None
        self.failed_at: float | None = None

    def __call__(self, agent: Any) -> None:
        from htflow.agent import records

        if not self.killed:
            self._maybe_kill(agent.lp, records)
            return
        now = time.time()
        if self.down_at is None and _node_state(self.status, self.killed["node"]) == "down":
            self.down_at = now
        if self.failed_at is None and records.allocations(agent.lp).find_one(
            {"job_id": self.killed["job_id"], "state": "ended"}
        ):
            self.failed_at = now

    def _maybe_kill(self, lp: Any, records: Any) -> None:
        from htflow.cluster.node_network import kill_namespace_processes
        from htflow.launch.worker import attempts, launch_state
        from htflow.qe.rundir import PwRunDir

        if records.launches(lp).count_documents({"done": True}) < self.after:
            return
        for launch in records.launches(lp).find({"done": False, "alloc_id": {"$ne": None}}):
            directory = launch["launch_dir"]
            hosts = PwRunDir(directory).rank_hosts()
            tried = attempts(directory)
            if not hosts or not tried or launch_state(directory) != "RUNNING":
                continue
            node, batch_host = hosts[0][0], tried[-1].get("host")
            if node == batch_host:
                continue
            alloc = records.allocations(lp).find_one({"alloc_id": launch["alloc_id"]})
            namespace = next(n.namespace for n in self.status.nodes if n.name == node)
            running_there = [
                x["launch_dir"]
                for x in records.launches(lp).find({"done": False})
                if PwRunDir(x["launch_dir"]).rank_hosts()[:1]
                and PwRunDir(x["launch_dir"]).rank_hosts()[0][0] == node
            ]
            self.killed = {
                "node": node,
                "time": time.time(),
                "job_id": alloc["job_id"],
                "launches": running_there,
            }
            kill_namespace_processes(namespace)
            return


def _node_state(status: Any, node: str) -> str:
    out = subprocess.run(
        ["sinfo", "-h", "-n", node, "-o", "%T"],
        env={**os.environ, "SLURM_CONF": str(status.slurm_conf)},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.strip().rstrip("*")


def node_loss(n: int, work: Path, status: Any) -> None:
    from htflow.cluster.local_slurm import start_node
    from htflow.qe.rundir import PwRunDir

    killer = NodeKiller(status, after=3)
    profile = write_profile(work, "two-of-three", nodes=2)
    try:
        elapsed = run_campaign(n, work / "node-loss", profile, tick=killer)
    finally:
        if killer.killed:
            start_node(killer.killed["node"], status.state_dir)
    if not killer.killed:
        raise SystemExit("no calculation ran on a node other than the batch host: nothing killed")
    kill = killer.killed["time"]
    again = []
    for directory in killer.killed["launches"]:
        later = [t for h, t in PwRunDir(directory).rank_hosts() if t > kill]
        again += later[:1]
    print(f"{n} statics on 2 of 3 nodes with {killer.killed['node']} killed: {elapsed:.1f} s")
    print(f"  node DOWN in sinfo        {_since(killer.down_at, kill)}")
    print(f"  agent saw NODE_FAIL       {_since(killer.failed_at, kill)}")
    print(
        f"  its {len(killer.killed['launches'])} calculation(s) running again elsewhere "
        f"{_since(max(again) if again else None, kill)}"
    )


def _since(moment: float | None, start: float) -> str:
    return f"{moment - start:.1f} s after the kill" if moment is not None else "never seen"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="small statics per run")
    parser.add_argument("--repeat", type=int, default=2, help="1x1 / 3x1 pairs")
    parser.add_argument("--state-dir", default="/tmp/htflow-bench-multinode")
    parser.add_argument("--port", type=int, default=19877, help="slurmctld port (+1..+3)")
    parser.add_argument("--skip", choices=("packing", "node-loss"), action="append", default=[])
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args()
    from htflow.cluster.local_slurm import cluster_up

    # FireWorks warns once per offline launch that it has no FW_ping.json: htflow writes none.
    warnings.filterwarnings("ignore", message="Unable to find FW_ping.json")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    status = cluster_up(state_dir=args.state_dir, port=args.port, nodes=3)
    os.environ["SLURM_CONF"] = str(status.slurm_conf)
    cores = os.cpu_count() or 1
    print(
        f"3 namespaced nodes on a machine with {cores} real cores"
        + (" (3 nodes x 1 core oversubscribe them)" if cores < 3 else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="htflow-multinode-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "packing" not in args.skip:
            packing(args.n, args.repeat, work)
        if "node-loss" not in args.skip:
            node_loss(args.n, work, status)
    print(f"the cluster stays up: htflow cluster down --state-dir {args.state_dir}")


if __name__ == "__main__":
    main()
