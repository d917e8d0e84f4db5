"""The tables of benchmarks/active_learning.py, from its JSON record."""

from __future__ import annotations

from typing import Any

import numpy as np

TARGET_GAP = 1.4  # eV


def _spread(values: list[int]) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{median:g} (IQR {q1:g}–{q3:g}; {min(values)}–{max(values)})"


def truth_table(truth: dict[str, Any], left_out: dict[str, str] | None = None) -> str:
    """Every candidate: band gap, distance to the target, where the number comes from; those
    whose elements the family now leaves out are listed apart, out of the replays."""
    left_out = left_out or {}
    rows = [
        "| candidate | band gap (eV) | \\|gap − 1.4\\| (eV) | source |",
        "|---|---:|---:|---|",
    ]
    done = {n: r for n, r in truth.items() if r.get("status") == "ok" and n not in left_out}
    for name, r in sorted(done.items(), key=lambda item: abs(item[1]["band_gap"] - TARGET_GAP)):
        gap = 0.0 if r["is_metal"] else r["band_gap"]
        source = "reused run" if r["source"] == "reused" else "run here"
        rows.append(f"| {name} | {gap:.3f} | {abs(gap - TARGET_GAP):.3f} | {source} |")
    for name in sorted(set(truth) & set(left_out)):
        rows.append(f"| {name} | not ground truth | | left out of the family: {left_out[name]} |")
    for name, r in sorted(truth.items()):
        if r.get("status") != "ok":
            rows.append(f"| {name} | failed | | {r.get('reason', '')} |")
    reused = sum(1 for r in done.values() if r["source"] == "reused")
    hours = sum(r.get("core_seconds", 0.0) for r in done.values()) / 3600
    rows.append("")
    rows.append(
        f"{len(done)} candidates with a band gap ({reused} parsed from reused runs); "
        f"{hours:.1f} core-hours of pw.x in all."
    )
    return "\n".join(rows)


def replay_table(replays: dict[str, Any]) -> str:
    """Evaluations to find the top 1 and top 3: strategy against random order."""
    random = replays["random"]
    rows = [
        "| strategy | seeds | top 1: median (IQR; range) | top 3: median (IQR; range) "
        "| acceleration top 1 | acceleration top 3 |",
        "|---|---:|---|---|---:|---:|",
    ]
    for key in sorted(k for k in replays if k.startswith("batch_")):
        seeds = replays[key]["seeds"].values()
        if not seeds:  # a replay that has just started
            continue
        top1 = [s["top1"] for s in seeds]
        top3 = [s["top3"] for s in seeds]
        batch = key.removeprefix("batch_")
        rows.append(
            f"| GP + EI, batch {batch} | {len(top1)} | {_spread(top1)} | {_spread(top3)} "
            f"| {random['top1']['expected'] / np.median(top1):.1f}× "
            f"| {random['top3']['expected'] / np.median(top3):.1f}× |"
        )

    def random_cell(k: int) -> str:
        low, _p10, q1, median, q3, _p90, high = random[f"top{k}"]["simulated"]
        expected = random[f"top{k}"]["expected"]
        return f"{expected:.1f} expected; {median} (IQR {q1}–{q3}; {low}–{high})"

    draws = f"{random['draws']} draws"
    rows.append(f"| random order | {draws} | {random_cell(1)} | {random_cell(3)} | 1× | 1× |")
    rows.append("")
    rows.append(
        f"Pool of {random['n']} candidates. Acceleration: the expected random-order count "
        "k(N + 1)/(k + 1) over the strategy's median."
    )
    return "\n".join(rows)


def surrogate_table(check: dict[str, Any]) -> str:
    """The GP's leave-one-out over the truth: overall quality and the top 3's ranks."""
    rows = [
        "Leave-one-out of the replays' GP over the truth (each candidate from all the others): "
        f"RMSE {check['rmse_ev']:.2f} eV (band gaps spread {check['gap_std_ev']:.2f} eV), "
        f"Spearman {check['spearman_gap']:.2f} on the gap and "
        f"{check['spearman_distance']:.2f} on |gap − 1.4|.",
        "",
        "| true top 3 | band gap (eV) | predicted from the others (eV) | rank by prediction |",
        "|---|---:|---:|---:|",
    ]
    for item in check["top3"]:
        rows.append(
            f"| {item['name']} | {item['gap_ev']:.3f} | {item['loo_ev']:.2f} "
            f"| {item['rank_by_loo']} |"
        )
    return "\n".join(rows)


def markdown(data: dict[str, Any]) -> str:
    """All tables of the record that exist."""
    parts = []
    if data.get("truth"):
        parts += ["### Ground truth", truth_table(data["truth"], data.get("left_out"))]
    if data.get("replay", {}).get("random"):
        parts += ["### Replays", replay_table(data["replay"])]
    if data.get("replay", {}).get("surrogate_loo"):
        parts += ["### The surrogate", surrogate_table(data["replay"]["surrogate_loo"])]
    if data.get("commands"):
        parts += ["Commands:", *(f"    {c}" for c in data["commands"])]
    return "\n\n".join(parts) if parts else "(nothing recorded yet)"
