"""Dashboard latency: the campaign page at 10,000 Fireworks while a writer commits.

Builds an embedded store with ``--n`` Fireworks in one campaign (real QE Firework specs from
the ``relax_static_dos`` flow, workflows of three, launches with FireWorks' fields, the
agent's launch and allocation records, 5 % FIZZLED with stack traces), plus a 100-Firework
campaign, by inserting the documents directly. Serves the dashboard with waitress on a
loopback port in a thread, and times ``--requests`` HTTP requests per case:

- the campaign page (counts, workflows page 1, throughput, failures, core-hours) at ``--n``,
  with a writer process updating a Firework and adding a launch every ``--write-every`` s
  and adding a Firework every tenth write (the target: median under 1 s);
- the same with the writer stopped, and the 100-Firework campaign with the writer on
  (baselines: printed as ratios);
- the counts JSON the pages poll, a Firework page, a page of the Fireworks list;
- for comparison, the campaign's counts read through a litemongo query (what FireWorks'
  LaunchPad does), which rebuilds the collection's indexes after each of the writer's
  commits.

Run::

    PYTHONPATH=. .venv/bin/python benchmarks/dashboard.py              # 10,000 Fireworks
    PYTHONPATH=. .venv/bin/python benchmarks/dashboard.py --n 2000 --requests 10
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import itertools
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BIG, SMALL = "bench-10k", "bench-100"
USER = ("bench", "bench-password")
TRACE = (
    'Traceback (most recent call last):\n  File "/x/rocket.py", line 265, in run\n'
    "    m_action = t.run_task(my_spec)\nhtflow.exceptions.CalculationFailedError: "
    "pw.x run failed (scf_not_converged): convergence NOT achieved in {dir}\n"
)


def _templates() -> list[dict[str, Any]]:
    from jobflow.managers.fireworks import flow_to_workflow
    from pymatgen.core import Lattice, Structure

    from htflow.campaign.build import FLOW_BUILDERS, FlowRequest

    si = Structure(Lattice.cubic(5.43), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    flow = FLOW_BUILDERS["qe"](FlowRequest(si, "relax_static_dos", "fast", None))
    return [fw.as_dict() for fw in flow_to_workflow(flow).fws]


def _launch(launch_id: int, fw_id: int, state: str, t_end: float, root: str) -> dict[str, Any]:
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t_end))
    stored: dict[str, Any] = {}
    if state == "FIZZLED":
        stored = {"_message": "runtime error during task", "_exception": {"_stacktrace": ""}}
        stored["_exception"]["_stacktrace"] = TRACE.format(dir=f"{root}/fw{fw_id}")
    return {
        "fworker": {"name": "htflow-agent", "category": "", "query": "{}", "env": {}},
        "fw_id": fw_id,
        "launch_dir": f"{root}/fw{fw_id}-launch{launch_id}",
        "host": "node01",
        "ip": "127.0.0.1",
        "trackers": [],
        "action": {"stored_data": stored, "exit": state == "FIZZLED", "update_spec": {}},
        "state": state,
        "state_history": [
            {"state": s, "created_on": iso, "updated_on": iso}
            for s in ("RESERVED", "RUNNING", state)
        ],
        "launch_id": launch_id,
        "time_start": iso,
        "time_end": iso if state != "RUNNING" else None,
        "runtime_secs": 600.0,
    }


def fill(uri: str, campaign: str, n: int, first_id: int, rng: random.Random) -> None:
    """``n`` Fireworks of ``campaign`` (ids from ``first_id``) with workflows and launches."""
    from htflow.agent.records import ALLOCATIONS, LAUNCHES
    from htflow.db.collections import open_database

    templates = _templates()
    states = ["COMPLETED"] * 60 + ["READY"] * 15 + ["WAITING"] * 15 + ["RUNNING"] * 5
    states += ["FIZZLED"] * 5
    fws, wfs, launches, records, allocs = [], [], [], [], []
    now = time.time()
    for k in range(n):
        fw_id = first_id + k
        doc = copy.deepcopy(templates[k % len(templates)])
        doc["fw_id"] = fw_id
        doc["spec"]["htflow_campaign"] = campaign
        state = rng.choice(states)
        doc.update(state=state, archived_launches=[], launches=[])
        doc["created_on"] = doc["updated_on"] = "2026-01-01T00:00:00+00:00"
        if state in ("COMPLETED", "RUNNING", "FIZZLED"):
            doc["launches"] = [fw_id]
            launches.append(_launch(fw_id, fw_id, state, now - rng.uniform(0, 86400), "/scratch"))
            records.append({"launch_id": fw_id, "fw_id": fw_id, "alloc_id": fw_id // 8})
        fws.append(doc)
    for k in range(0, n, 3):
        nodes = [first_id + j for j in range(k, min(k + 3, n))]
        wfs.append(
            {
                "nodes": nodes,
                "name": f"{campaign} Si{k} relax_static_dos",
                "state": "RUNNING",
                "links": {str(a): [b] for a, b in itertools.pairwise(nodes)},
                "parent_links": {},
                "metadata": {},
                "fw_states": {str(i): fws[i - first_id]["state"] for i in nodes},
                "created_on": "2026-01-01T00:00:00",
                "updated_on": "2026-01-01T00:00:00",
            }
        )
    for alloc_id in sorted({r["alloc_id"] for r in records}):
        ids = [r["launch_id"] for r in records if r["alloc_id"] == alloc_id]
        allocs.append(
            {
                "alloc_id": alloc_id,
                "job_id": str(100000 + alloc_id),
                "state": "ended",
                "launch_ids": ids,
                "resources": {"nodes": 1, "tasks_per_node": 8, "cpus_per_task": 1},
                "submitted": now - 7200,
                "ended": now - 3600,
            }
        )
    with open_database(uri) as (db, _):
        for name, docs in (
            ("fireworks", fws),
            ("workflows", wfs),
            ("launches", launches),
            (LAUNCHES, records),
            (ALLOCATIONS, allocs),
        ):
            if docs:
                db[name].insert_many(docs)


def writer(uri: str, every: float, first_new: int, stop: Any, counter: Any) -> None:
    """The agent's stand-in: updates a Firework and adds a launch every ``every`` s, and adds
    a Firework (and its workflow) every tenth write, each write one commit."""
    from htflow.db.collections import open_database

    rng = random.Random(7)
    new_id = first_new
    with open_database(uri) as (db, _):
        template = db["fireworks"].find_one({"fw_id": 1}, {"_id": 0})
        while not stop.is_set():
            fw_id = rng.randrange(1, first_new)
            db["fireworks"].update_one(
                {"fw_id": fw_id}, {"$set": {"state": "COMPLETED", "updated_on": time.time()}}
            )
            db["launches"].insert_one(_launch(new_id, fw_id, "COMPLETED", time.time(), "/s"))
            if counter.value % 10 == 0:
                doc = dict(template, fw_id=new_id, state="READY", launches=[])
                db["fireworks"].insert_one(doc)
                db["workflows"].insert_one({"nodes": [new_id], "name": "new", "fw_states": {}})
            new_id += 1
            counter.value += 1
            time.sleep(every)


def _serve(uri: str, users_file: Path) -> tuple[Any, int]:
    from waitress import create_server

    from htflow.dashboard import create_app
    from htflow.dashboard.users import UserStore

    app = create_app(uri, UserStore(users_file), snapshot_ttl=0)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, server.effective_port


def timed(port: int, path: str, n: int) -> list[float]:
    """Seconds of ``n`` GET requests (each must answer 200)."""
    auth = "Basic " + base64.b64encode(":".join(USER).encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": auth})
        answer = conn.getresponse()
        body = answer.read()
        out.append(time.perf_counter() - start)
        if answer.status != 200:
            raise SystemExit(f"{path}: {answer.status} {body[:300]!r}")
    conn.close()
    return out


def report(label: str, seconds: list[float]) -> float:
    """Print median and p90; return the median."""
    ordered = sorted(seconds)
    median = statistics.median(ordered)
    p90 = ordered[max(0, round(0.9 * len(ordered)) - 1)]
    print(f"{label:<62} median {median:6.3f} s   p90 {p90:6.3f} s   (n={len(ordered)})")
    return median


def litemongo_counts(uri: str, n: int, pause: float) -> list[float]:
    """The campaign's counts through a litemongo query, one every ``pause`` s."""
    from htflow.db import get_launchpad

    lp = get_launchpad(uri)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        list(lp.fireworks.find({"spec.htflow_campaign": BIG}, {"state": 1, "_id": 0}))
        out.append(time.perf_counter() - start)
        time.sleep(pause)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="Fireworks in the big campaign")
    parser.add_argument("--requests", type=int, default=30, help="requests per case")
    parser.add_argument("--write-every", type=float, default=0.05, help="s between writes")
    args = parser.parse_args()

    from htflow.dashboard.users import add_user
    from htflow.db import get_launchpad

    with tempfile.TemporaryDirectory(prefix="htflow-dash-bench-") as tmp:
        uri = f"file://{tmp}/db"
        get_launchpad(uri)  # FireWorks' counters and indexes, as a real store has
        start = time.perf_counter()
        rng = random.Random(1)
        fill(uri, BIG, args.n, 1, rng)
        fill(uri, SMALL, 100, args.n + 1, rng)
        print(f"== store: {args.n} + 100 Fireworks built in {time.perf_counter() - start:.1f} s")
        users = Path(tmp) / "users.yaml"
        add_user(users, *USER, role="admin")
        server, port = _serve(uri, users)
        fizzled = next(
            d["fw_id"]
            for d in get_launchpad(uri).fireworks.find({"state": "FIZZLED"}, {"fw_id": 1})
        )
        big, small = f"/campaign/{BIG}", f"/campaign/{SMALL}"
        timed(port, big, 1)  # warm-up: imports, templates, the password check

        ctx = mp.get_context("spawn")
        stop, counter = ctx.Event(), ctx.Value("i", 0)
        proc = ctx.Process(
            target=writer, args=(uri, args.write_every, args.n + 1000, stop, counter)
        )
        proc.start()
        while counter.value < 5:
            time.sleep(0.1)
        t0, c0 = time.monotonic(), counter.value
        n = args.requests
        on = report(f"campaign page, {args.n} Fireworks, writer on", timed(port, big, n))
        small_on = report("campaign page, 100 Fireworks, writer on", timed(port, small, n))
        report("counts JSON (polled), writer on", timed(port, f"/api/campaign/{BIG}/counts", n))
        report("Firework page (a FIZZLED one), writer on", timed(port, f"/fw/{fizzled}", n))
        report("Fireworks list, page 2, writer on", timed(port, f"{big}/fireworks?page=2", n))
        via_query = report(
            "counts via a litemongo query (for comparison), writer on",
            litemongo_counts(uri, min(n, 10), 0.2),
        )
        writes = (counter.value - c0) / (time.monotonic() - t0)
        stop.set()
        proc.join(timeout=60)
        off = report(f"campaign page, {args.n} Fireworks, writer off", timed(port, big, n))
        server.close()
    print(f"writer: {writes:.1f} writes/s (each an update and a launch; a Firework every 10th)")
    print(f"ratio writer on / off at {args.n}:      {on / off:6.2f}")
    print(f"ratio {args.n} / 100 Fireworks, writer on: {on / small_on:6.2f}")
    print(f"ratio litemongo counts query / whole campaign page: {via_query / on:6.2f}")
    print(f"target: campaign page median < 1 s at {args.n}: {'met' if on < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
