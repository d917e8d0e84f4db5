"""Ground truth of benchmarks/active_learning.py: one candidate's band gap at the fast protocol.

The calculation is benchmarks/funnel.py's (``_funnel_dft.energy_flow``, run by its
``run_flow`` with jobflow's ``run_locally``): the first two jobs of the campaign's
``relax_static_dos``, the vc-relax every workflow starts with, then a static SCF serving
the ``energy`` property, told whether the relaxation found a metal. The band gap is the
static's (pw.x's highest occupied and lowest unoccupied levels on its k mesh,
``PwTaskDoc.output.band_gap``).

A finished run of the same calculation elsewhere (benchmarks/funnel.py's screen runs it on
the same pool) can be read instead of run: :func:`reused_record` accepts a directory only
when it holds one successful vc-relax and one successful static whose inputs say the same
protocol, pseudo family and served property, and whose relaxation started from this
candidate's structure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from _funnel_dft import attempt_costs, energy_flow, run_flow
from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.qe.outputs import build_task_doc
from htflow.qe.stdout_parser import parse_initial_structure

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.schemas import PwTaskDoc

SERVED_PROPERTY = "energy"


def _first_attempt_output(directory: Path) -> Path:
    """The first pw.x attempt's stdout: Custodian rotates earlier ones to pw.<n>.out."""
    rotated = sorted(directory.glob("pw.[0-9]*.out"), key=lambda p: int(p.suffixes[0][1:]))
    return rotated[0] if rotated else directory / "pw.out"


def _gap_fields(static: PwTaskDoc, relax: PwTaskDoc) -> dict[str, Any]:
    final = static.structure
    assert final is not None
    return {
        "status": "ok",
        "band_gap": static.output.band_gap,
        "is_metal": static.output.is_metal,
        "energy_per_atom": static.output.energy_per_atom,
        "formula": final.composition.reduced_formula,
        "volume_per_atom": final.volume / len(final),
        "relax_ionic_steps": relax.output.n_ionic_steps,
        "static_dir": static.dir_name,
    }


def run_record(structure: Structure, root: Path, protocol: str, family: str) -> dict[str, Any]:
    """Run the relax → static of one candidate in ``root`` (emptied first); its record."""
    _, elapsed = run_flow(energy_flow(structure, protocol, family), root)
    record: dict[str, Any] = {"source": "run", "elapsed_seconds": elapsed, **attempt_costs(root)}
    found = _relax_and_static(root)
    if isinstance(found, str):
        return {**record, "status": "failed", "reason": found}
    return {**record, **_gap_fields(*found)}


def _relax_and_static(root: Path) -> tuple[PwTaskDoc, PwTaskDoc] | str:
    """The static and relax task documents under ``root``, or why there are none."""
    docs = [build_task_doc(d) for d in sorted(p.parent for p in root.glob("*/pw.out"))]
    relaxes = [d for d in docs if d.calculation == "vc-relax"]
    statics = [d for d in docs if d.calculation == "scf"]
    if len(relaxes) != 1 or len(statics) != 1:
        return f"{len(relaxes)} vc-relax and {len(statics)} scf runs, not one of each"
    relax, static = relaxes[0], statics[0]
    if relax.state != "successful" or static.state != "successful":
        return f"relax {relax.state}, static {static.state}"
    if static.output.band_gap is None and static.output.is_metal is not True:
        return "the static reports no band gap"
    return static, relax


def reused_record(
    structure: Structure, root: Path, protocol: str, family: str
) -> dict[str, Any] | str:
    """The record of a finished relax → static of ``structure`` in ``root``, or why not.

    Accepted only when both runs succeeded, both inputs (pw_input.json) name ``protocol``
    and ``family``, the static serves the ``energy`` property, and the relaxation's first
    attempt started from ``structure`` (StructureMatcher, no rescaling).
    """
    if not root.is_dir():
        return f"no directory {root}"
    found = _relax_and_static(root)
    if isinstance(found, str):
        return found
    static, relax = found
    for doc in (relax, static):
        pw_input = doc.input.pw_input
        if pw_input is None:
            return f"{doc.dir_name}: no pw_input.json"
        if (pw_input.protocol, pw_input.pseudo_family) != (protocol, family):
            return f"{doc.calculation} ran {pw_input.protocol}/{pw_input.pseudo_family}"
    sampling = static.input.pw_input.sampling if static.input.pw_input else None
    if sampling is None or sampling.property != SERVED_PROPERTY:
        return "the static does not serve the energy property"
    assert relax.dir_name is not None
    first = _first_attempt_output(Path(relax.dir_name))
    start = parse_initial_structure(first.read_text(errors="replace"))
    if start is None or not StructureMatcher(scale=False).fit(start, structure):
        return f"the relaxation in {first.parent.name} started from another structure"
    return {
        "source": "reused",
        "reused_from": str(root),
        **attempt_costs(root),
        **_gap_fields(static, relax),
    }
