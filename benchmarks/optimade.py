"""The OPTIMADE API at scale on the embedded store: a filtered page of 100 against
``htflow.db.query`` for the same filter, and the time to the first response after start.

Fills a fresh embedded store with ``--n`` materials (``db_scale.py``'s synthetic data,
without the DOS blobs), starts ``htflow optimade serve --public --port 0`` as its own
process, and measures:

- from the start of the process: the announcement (socket bound), the first ``/v1/info``,
  the first page of 100 structures;
- for each filter: the median latency of a page of 100 structures (``page_limit=100``,
  every field) over ``--repeat`` requests after one warm-up, beside ``htflow.db.query`` of
  the same question with ``limit=100`` (scalar fields: the summary table) and of every
  matching id (what the page also needs, for its count and order), and that both count
  the same matches;
- with ``--with-structures``, once: ``htflow.db.query`` of the first filter with the
  structures (a projection the summary table cannot serve: it reads the documents through
  litemongo, minutes at 100,000).

Run: ``.venv/bin/python benchmarks/optimade.py --n 100000`` (``--store DIR`` keeps the
store and reuses it on the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# (OPTIMADE filter, the htflow.db.query criteria asking the same)
FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("_htflow_band_gap > 1 AND nelements = 2", {"band_gap": {"$gt": 1}, "nelements": 2}),
    ('elements HAS ALL "Si","O"', {"elements": {"$all": ["Si", "O"]}}),
    ('elements HAS ANY "Cu","Zn" AND nsites <= 4',
     {"elements": {"$in": ["Cu", "Zn"]}, "nsites": {"$lte": 4}}),
    ("_htflow_k_vrh > 150", {"k_vrh": {"$gt": 150}}),
    ('chemical_formula_reduced = "OSi"', {"formula_reduced": "SiO"}),
    ('chemical_formula_anonymous = "ABC"', {}),  # htflow has no such field: counts only
    ('id STARTS WITH "htf-00"', {"material_id": {"$regex": "^htf-00"}}),
]  # fmt: skip
QUERY_FIELDS = ["material_id", "formula_reduced", "band_gap", "k_vrh", "nsites"]


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=600) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def first_answer(url: str, deadline: float) -> float:
    """Seconds until ``url`` first answers 200 (polling every 10 ms)."""
    while True:
        try:
            get(url)
            return time.perf_counter()
        except OSError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.01)


def start_server(uri: str) -> tuple[subprocess.Popen[str], str, dict[str, float]]:
    code = "from htflow.cli.main import main; main()"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, "optimade", "serve", "--db", uri, "--public", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    announced = time.perf_counter()
    base = line.split(" on ", 1)[1].split()[0]
    info = first_answer(f"{base}/info", start + 120)
    get(f"{base}/structures?page_limit=100")
    page = time.perf_counter()
    times = {"announced": announced - start, "info": info - start, "page": page - start}
    return process, base, times


def median_seconds(func: Any, repeat: int) -> float:
    func()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_filters(base: str, uri: str, repeat: int) -> None:
    """Print the page latencies of every filter (see the module docstring)."""
    from htflow.db import query

    header = f"{'filter':<46} {'matches':>8} {'OPTIMADE':>9} {'query':>8} {'all ids':>8}"
    print(f"\npage of 100, median of {repeat} (s)\n{header}")
    for optimade_filter, criteria in FILTERS:
        params = urllib.parse.urlencode({"filter": optimade_filter, "page_limit": 100})
        url = f"{base}/structures?{params}"
        matches = get(url)["meta"]["data_returned"]
        t_api = median_seconds(lambda url=url: get(url), repeat)
        t_query = t_ids = "-"
        if criteria:
            count = len(query(criteria, ["material_id"], uri))
            assert count == matches, (optimade_filter, count, matches)
            seconds = median_seconds(
                lambda c=criteria: query(c, QUERY_FIELDS, uri, limit=100), repeat
            )
            t_query = f"{seconds:.3f}"
            # what the page also needs: every matching id (the count, the order)
            seconds = median_seconds(lambda c=criteria: query(c, ["material_id"], uri), repeat)
            t_ids = f"{seconds:.3f}"
        print(f"{optimade_filter:<46} {matches:>8} {t_api:9.3f} {t_query:>8} {t_ids:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="materials in the store")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per filter")
    parser.add_argument("--store", type=Path, default=None, help="keep (and reuse) the store")
    parser.add_argument(
        "--with-structures", action="store_true", help="also time query() with structures, once"
    )
    args = parser.parse_args()

    from db_scale import fill

    from htflow.db import query

    work = args.store or Path(tempfile.mkdtemp(prefix="htflow-optimade-bench-"))
    uri = f"file://{work / 'db'}"
    process = None
    try:
        if (work / "db").is_dir():
            print(f"== reusing the store {uri}")
        else:
            seconds, _ = fill(uri, args.n, n_energies=10, dos=False)
            print(f"== {args.n} materials ingested in {seconds:.0f} s into {uri}")
        total = len(query({}, ["material_id"], uri))
        process, base, started = start_server(uri)
        print(f"{total} materials; server process started:")
        print(f"  {'socket bound, URL announced':<44} {started['announced']:8.2f} s")
        print(f"  {'first /v1/info answered':<44} {started['info']:8.2f} s")
        print(f"  {'first page of 100 structures':<44} {started['page']:8.2f} s")
        time_filters(base, uri, args.repeat)
        if args.with_structures:
            optimade_filter, criteria = FILTERS[0]
            fields = [*QUERY_FIELDS, "structure"]
            start = time.perf_counter()
            query(criteria, fields, uri, limit=100)
            print(
                f"\nquery() of {optimade_filter!r} with structures, limit 100: "
                f"{time.perf_counter() - start:.1f} s (once)"
            )
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        if args.store is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
