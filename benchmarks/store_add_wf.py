"""Embedded store benchmark: ``add_wf`` throughput and claim latency on the FireWorks LaunchPad.

Usage::

    .venv/bin/python benchmarks/store_add_wf.py [--n-add 2000] [--n-queued 20000] [--claims 5]

Prints, in one invocation:

1. the time of ``--n-add`` single-Firework ``add_wf`` calls on the embedded store (litemongo,
   SQLite WAL files) and on mongomock (in memory, and mongomock-persistence when installed),
   and the ratios;
2. the latency of ``reserve_fw`` (the claim FireWorks' rlaunch does) with 100 and with
   ``--n-queued`` READY workflows, and of claiming a known ``fw_id`` (what a batching agent does);
3. whether litemongo uses the indexes FireWorks declares (an indexed vs an unindexed lookup).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fireworks import Firework, FWorker, LaunchPad, ScriptTask, Workflow

from htflow.db import get_launchpad, ready_fw_ids
from htflow.db.embedded import register_client_factory


def _wf(i: int) -> Workflow:
    return Workflow([Firework(ScriptTask.from_str("true"), name=f"fw{i}")], name=f"wf{i}")


def _fill(lp: LaunchPad, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        lp.add_wf(_wf(i))
    return time.perf_counter() - start


def _mongomock_launchpad(kind: str, where: Path) -> LaunchPad | None:
    """A LaunchPad on mongomock ("memory") or mongomock-persistence ("persistence")."""
    if kind == "memory":
        import mongomock_ng.gridfs  # maggma's dependency: always installed with htflow

        # Each mongomock flavour re-points gridfs' isinstance checks at its own classes (which
        # breaks the others), so the mongomock runs come after all the embedded ones.
        mongomock_ng.gridfs.enable_gridfs_integration()
        register_client_factory("mongomock://", lambda host: mongomock_ng.MongoClient())
    else:
        try:
            import mongomock_persistence
        except ImportError:
            return None
        import mongomock.gridfs

        mongomock.gridfs.enable_gridfs_integration()
        path = where / "mongomock.json"
        path.write_text("{}")

        def factory(host: str) -> Any:
            return mongomock_persistence.MongoClient(
                _store=mongomock_persistence.ServerStore(str(path))
            )

        register_client_factory("mongomock-persistence://", factory)
    prefix = "mongomock://" if kind == "memory" else "mongomock-persistence://"
    lp = LaunchPad(host=f"{prefix}bench", uri_mode=True, name="bench", strm_lvl="ERROR")
    lp.reset("", require_password=False)
    return lp


def _claim_latency(lp: LaunchPad, claims: int, launch_dir: str) -> float:
    """Median seconds of one reserve_fw (the next READY Firework by priority)."""
    times = []
    for _ in range(claims):
        start = time.perf_counter()
        fw, _launch_id = lp.reserve_fw(FWorker(), launch_dir)
        times.append(time.perf_counter() - start)
        assert fw is not None
    return statistics.median(times)


def _claim_by_id_latency(lp: LaunchPad, claims: int, launch_dir: str) -> tuple[float, float]:
    """(seconds to list ``claims`` READY ids in one query, median seconds per claim by id)."""
    start = time.perf_counter()
    ids = ready_fw_ids(lp, claims)
    listing = time.perf_counter() - start
    times = []
    for fw_id in ids:
        start = time.perf_counter()
        fw, _launch_id = lp.reserve_fw(FWorker(), launch_dir, fw_id=fw_id)
        times.append(time.perf_counter() - start)
        assert fw is not None and fw.fw_id == fw_id
    return listing, statistics.median(times)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n-add", type=int, default=2000, help="add_wf calls to time")
    parser.add_argument("--n-queued", type=int, default=20000, help="READY workflows for claims")
    parser.add_argument("--claims", type=int, default=5, help="claims to time (median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="htflow-bench-") as tmp:
        root = Path(tmp)
        launch_dir = str(root / "launch")

        print(f"== {args.n_add} add_wf (one Firework each)")
        embedded = get_launchpad(str(root / "embedded"))
        t_embedded = _fill(embedded, args.n_add)
        print(f"embedded (litemongo, SQLite WAL): {t_embedded:7.2f} s")
        print(f"== claim latency (reserve_fw, median of {args.claims})")
        for n in (100, args.n_queued):
            lp = get_launchpad(str(root / f"claims{n}"))
            t_fill = _fill(lp, n)
            latency = _claim_latency(lp, args.claims, launch_dir)
            listing, by_id = _claim_by_id_latency(lp, args.claims, launch_dir)
            print(
                f"{n:6d} READY (filled in {t_fill:6.1f} s): "
                f"next-by-priority {latency * 1e3:7.1f} ms;"
                f" list {args.claims} READY ids {listing * 1e3:8.1f} ms, then claim by fw_id "
                f"{by_id * 1e3:6.1f} ms each"
            )
            if n == args.n_queued:
                _index_check(lp)

        print(f"== {args.n_add} add_wf on mongomock, for comparison")
        for kind in ("memory", "persistence"):
            lp = _mongomock_launchpad(kind, root)
            label = "mongomock (in memory)" if kind == "memory" else "mongomock-persistence"
            if lp is None:
                print(f"{label}: not installed, skipped")
                continue
            t_other = _fill(lp, args.n_add)
            finalizer = getattr(lp.connection._store, "_finalizer", None)
            if finalizer is not None:  # mongomock-persistence writes its file only at exit
                start = time.perf_counter()
                finalizer()
                t_other += time.perf_counter() - start
            print(
                f"{label + ':':33} {t_other:7.2f} s  "
                f"(ratio {label} / embedded = {t_other / t_embedded:.1f})"
            )


def _index_check(lp: LaunchPad) -> None:
    """Show that litemongo plans equality queries on FireWorks' declared indexes."""
    names = sorted(lp.fireworks.index_information())
    print(f"== indexes FireWorks declared on 'fireworks': {', '.join(names)}")
    target = lp.fireworks.find_one({}, sort=[("fw_id", -1)])["fw_id"]
    start = time.perf_counter()
    lp.fireworks.find_one({"fw_id": target})
    indexed = time.perf_counter() - start
    start = time.perf_counter()
    lp.fireworks.find_one({"name": {"$regex": f"^fw{target - 1}$"}})
    scan = time.perf_counter() - start
    print(
        f"find_one by fw_id (hash index): {indexed * 1e3:.2f} ms; "
        f"by a regex on name (full scan): {scan * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
