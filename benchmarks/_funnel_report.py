"""Tables of benchmarks/funnel.py from its JSON record: screen quality and pre-relaxation.

Pure: pymatgen for the hulls, nothing runs. The DFT hull is the builder's
(``htflow.builders.thermo.thermo_fields``) over the pool's own compounds and one DFT
reference per element; a candidate counts as *worth DFT at margin m* when its DFT energy
above that hull is ≤ m. At each margin the ML screen's ``kept`` is compared with that:
recall = kept ∩ worth / worth, precision = kept ∩ worth / kept, DFT avoided = screened out /
candidates scored.
"""

from __future__ import annotations

import statistics
from typing import Any

from pymatgen.core import Composition, Structure

from htflow.builders.thermo import thermo_fields
from htflow.ml.hull import MLPhase, ml_hull


def _ok(dft: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in dft.items() if v.get("status") == "ok"}


def dft_hull(dft: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per candidate: DFT formation energy and E_hull (eV/atom), raw and with MP2020 anion
    corrections (formation only); candidates lacking a working reference are left out."""
    ok = _ok(dft)
    materials = [
        {
            "material_id": key,
            "formula": record["formula"],
            "elements": sorted(el.symbol for el in Composition(record["formula"]).elements),
            "energy_per_atom": record["energy_per_atom"],
        }
        for key, record in ok.items()
    ]
    thermo = thermo_fields(materials)
    phases = [
        MLPhase(
            label=key,
            composition=record["formula"],
            energy_per_atom=record["energy_per_atom"],
            role="elemental_reference" if key.startswith("reference ") else "candidate",
            structure=Structure.from_dict(record["structure"]),
        )
        for key, record in ok.items()
    ]
    covered = {el for k in ok if k.startswith("reference ") for el in [k.split(" ", 1)[1]]}
    phases = [p for p in phases if {e.symbol for e in Composition(p.composition)} <= covered]
    if not any(p.role == "candidate" for p in phases):
        return {}
    corrected = ml_hull(phases, "mp2020")
    out = {}
    for key in ok:
        if not key.startswith("candidate ") or thermo[key]["energy_above_hull"] is None:
            continue
        out[key.split(" ", 1)[1]] = {
            "formation": thermo[key]["formation_energy_per_atom"],
            "e_hull": thermo[key]["energy_above_hull"],
            "formation_mp2020": corrected[key].formation_energy_per_atom,
        }
    return out


def screen_metrics(
    truth: dict[str, dict[str, Any]], decisions: dict[str, dict[str, Any]], margin: float
) -> dict[str, Any]:
    """Recall, precision and DFT avoided of one margin's decisions against the DFT hull."""
    names = [n for n in decisions if n in truth]
    worth = {n for n in names if truth[n]["e_hull"] <= margin + 1e-9}
    kept = {n for n in names if decisions[n]["kept"]}
    hits = worth & kept
    return {
        "n": len(names),
        "worth": len(worth),
        "kept": len(kept),
        "true_positive": len(hits),
        "recall": len(hits) / len(worth) if worth else None,
        "precision": len(hits) / len(kept) if kept else None,
        "avoided": (len(names) - len(kept)) / len(names) if names else None,
        "missed": sorted(worth - kept),
        "kept_but_above": sorted(kept - worth),
    }


def _mae(pairs: list[tuple[float, float]]) -> float | None:
    return statistics.fmean(abs(a - b) for a, b in pairs) if pairs else None


def _f(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def screen_tables(data: dict[str, Any]) -> list[str]:
    """The screen section: per-margin metrics and MAEs per model, then per-candidate rows."""
    screen = data.get("screen", {})
    dft = screen.get("dft", {})
    truth = dft_hull(dft)
    failed = {k: v for k, v in dft.items() if v.get("status") != "ok"}
    lines = ["## Screen quality", ""]
    n_candidates = sum(k.startswith("candidate ") for k in dft)
    lines.append(
        f"DFT: {n_candidates} candidates and {len(dft) - n_candidates} elemental references "
        f"computed; {len(truth)} candidates scored; {len(failed)} DFT runs failed "
        "(excluded from the metrics):"
    )
    lines += [f"- {k}: {v.get('reason')}" for k, v in failed.items()] or ["- none"]
    lines += [
        f"- {k} (left out of the pool): {why}" for k, why in screen.get("excluded", {}).items()
    ]
    lines.append("")
    models = screen.get("ml", {})
    for model, section in models.items():
        lines += _model_tables(model, section, truth)
    lines += _candidate_rows(truth, models)
    return lines


def _model_tables(model: str, section: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    decisions = section.get("screen", {})
    lines = [
        f"### {model} ({section.get('model_version')}, energy correction "
        f"{section.get('energy_correction')})",
        "",
        "| margin (eV/atom) | scored | worth DFT (DFT E_hull ≤ margin) | kept | recall "
        "| precision | DFT avoided | worth DFT but screened out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for margin, by_name in decisions.items():
        m = screen_metrics(truth, by_name, float(margin))
        lines.append(
            f"| {margin} | {m['n']} | {m['worth']} | {m['kept']} | {_f(m['recall'], '.2f')} "
            f"| {_f(m['precision'], '.2f')} | {_f(m['avoided'], '.0%')} "
            f"| {', '.join(m['missed']) or '—'} |"
        )
    first = next(iter(decisions.values()), {})
    names = [n for n in first if n in truth]
    scored = [n for n in names if first[n]["e_above_hull"] is not None]
    raw = [(first[n]["formation_energy_per_atom"], truth[n]["formation"]) for n in scored]
    corrected = [
        (first[n]["formation_energy_per_atom"], truth[n]["formation_mp2020"]) for n in scored
    ]
    hull = [(first[n]["e_above_hull"], truth[n]["e_hull"]) for n in scored]
    lines += [
        "",
        f"ML against DFT over {len(hull)} candidates (eV/atom): formation-energy MAE "
        f"{_f(_mae(raw))} against raw DFT, {_f(_mae(corrected))} against DFT with MP2020's "
        f"anion corrections; E_hull MAE {_f(_mae(hull))}.",
        "",
    ]
    return lines


def _candidate_rows(truth: dict[str, Any], models: dict[str, Any]) -> list[str]:
    header = "| candidate | DFT E_f | DFT E_f (MP2020) | DFT E_hull |"
    rule = "|---|---|---|---|"
    for model in models:
        header += f" {model} E_f | {model} E_hull | {model} kept at 0.05 / 0.1 / 0.2 |"
        rule += "---|---|---|"
    lines = ["### Per candidate (eV/atom)", "", header, rule]
    for name, t in sorted(truth.items(), key=lambda item: item[1]["e_hull"]):
        row = f"| {name} | {t['formation']:.3f} | {t['formation_mp2020']:.3f} | {t['e_hull']:.3f} |"
        for section in models.values():
            by_margin = section.get("screen", {})
            first = next(iter(by_margin.values()), {}).get(name, {})
            kept = " / ".join(
                "yes" if by_margin[m].get(name, {}).get("kept") else "no" for m in by_margin
            )
            row += (
                f" {_f(first.get('formation_energy_per_atom'))} "
                f"| {_f(first.get('e_above_hull'))} | {kept} |"
            )
        lines.append(row)
    return [*lines, ""]


def prerelax_tables(data: dict[str, Any]) -> list[str]:
    """Per structure and in total: DFT SCF steps and core-seconds from each start."""
    lines: list[str] = []
    for model, structures in data.get("prerelax", {}).items():
        lines += [
            f"## Pre-relaxation ({model}-relaxed start against the prototype start)",
            "",
            "| structure | start | ML steps | DFT SCFs proto / ML | DFT core-s proto / ML "
            "| core-s ratio ML/proto | k-points proto / ML | ΔV final (%) "
            "| corrections proto / ML | order |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows = []
        for name, s in structures.items():
            proto, ml = s.get("prototype_start"), s.get("ml_start")
            if not proto or not ml:
                lines.append(f"| {name} | {s.get('description')} | — | pending | | | | | | |")
                continue
            if proto["status"] != "ok" or ml["status"] != "ok":
                why = proto.get("reason") or ml.get("reason")
                lines.append(f"| {name} | {s.get('description')} | failed: {why} | | | | | | | |")
                continue
            rows.append((name, proto, ml))
            ratio = ml["core_seconds"] / proto["core_seconds"]
            d_v = 100 * (ml["volume_per_atom"] / proto["volume_per_atom"] - 1)
            lines.append(
                f"| {name} | {s['description']} | {s['ml']['n_steps']} "
                f"| {proto['ionic_steps']} / {ml['ionic_steps']} "
                f"| {proto['core_seconds']:.0f} / {ml['core_seconds']:.0f} | {ratio:.2f} "
                f"| {proto['n_kpoints']} / {ml['n_kpoints']} | {d_v:+.1f} "
                f"| {_corrections(proto)} / {_corrections(ml)} "
                f"| {' → '.join(s.get('order', []))} |"
            )
        lines += ["", *_prerelax_totals(rows, structures), ""]
    return lines


def _corrections(record: dict[str, Any]) -> str:
    errors = record.get("corrections") or []
    counts = {e: errors.count(e) for e in errors}
    return ", ".join(f"{e}×{n}" if n > 1 else e for e, n in counts.items()) or "—"


def _prerelax_totals(
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]], structures: Any
) -> list[str]:
    if not rows:
        return ["No structure has both relaxations yet."]
    lines = [
        "| subset | structures | DFT SCFs proto / ML (ratio) | DFT core-s proto / ML (ratio) "
        "| median per-structure ratio: SCFs, core-s | ML relax wall s (total) |",
        "|---|---|---|---|---|---|",
    ]
    demo = [r for r in rows if structures[r[0]]["description"] == "demo prototype"]
    distorted = [r for r in rows if r not in demo]
    for label, subset in (("demo", demo), ("distorted", distorted), ("all", rows)):
        if not subset:
            continue
        steps = [sum(r[i]["ionic_steps"] for r in subset) for i in (1, 2)]
        cost = [sum(r[i]["core_seconds"] for r in subset) for i in (1, 2)]
        step_ratio = statistics.median(r[2]["ionic_steps"] / r[1]["ionic_steps"] for r in subset)
        cost_ratio = statistics.median(r[2]["core_seconds"] / r[1]["core_seconds"] for r in subset)
        ml_wall = sum(structures[r[0]]["ml"]["elapsed_seconds"] for r in subset)
        lines.append(
            f"| {label} | {len(subset)} | {steps[0]} / {steps[1]} ({steps[1] / steps[0]:.2f}) "
            f"| {cost[0]:.0f} / {cost[1]:.0f} ({cost[1] / cost[0]:.2f}) "
            f"| {step_ratio:.2f}, {cost_ratio:.2f} | {ml_wall:.0f} |"
        )
    return lines


def markdown(data: dict[str, Any]) -> str:
    """The whole summary: the command lines, then the screen and pre-relaxation tables."""
    settings = data.get("settings", {})
    lines = ["Commands:", "", "```", *data.get("commands", []), "```", ""]
    lines.append(
        f"Protocol {settings.get('protocol')}, pseudo family {settings.get('pseudo_family')}; "
        "core-s = pw.x CPU time × ranks summed over every attempt (Custodian corrections "
        "included); SCFs = '!' lines over every attempt."
    )
    lines.append("")
    lines += screen_tables(data)
    lines += prerelax_tables(data)
    return "\n".join(lines)
