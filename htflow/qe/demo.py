"""The Si demo: relax → static → DOS with real pw.x, dos.x and projwfc.x."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from htflow.qe.flows import RelaxStaticDosMaker
from htflow.qe.jobs import NscfMaker, RelaxMaker, StaticMaker
from htflow.qe.sets import PwInputGenerator


def silicon() -> Structure:
    """Diamond Si, primitive cell, slightly off its PBE lattice constant (a = 5.43 Å)."""
    a = 5.43
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])


def relax_static_dos_maker(protocol: str) -> RelaxStaticDosMaker:
    """The three-step flow with every step on ``protocol``."""
    return RelaxStaticDosMaker(
        relax_maker=RelaxMaker(
            input_set_generator=PwInputGenerator(calculation="vc-relax", protocol=protocol)
        ),
        static_maker=StaticMaker(
            input_set_generator=PwInputGenerator(calculation="scf", protocol=protocol)
        ),
        dos_maker=NscfMaker(
            name="dos", input_set_generator=PwInputGenerator(calculation="nscf", protocol=protocol)
        ),
    )


def run_si_demo(directory: str | Path, protocol: str = "fast", log: bool = False) -> dict[str, Any]:
    """Run the flow in ``directory``; return table rows and notes for the CLI."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    flow = relax_static_dos_maker(protocol).make(silicon())
    cwd = os.getcwd()
    try:
        with warnings.catch_warnings():
            # jobflow's own deprecation notices say nothing about this run.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            responses = run_locally(
                flow, root_dir=root, create_folders=True, ensure_success=True, log=log
            )
    finally:
        os.chdir(cwd)
    outputs = {job.name: responses[job.uuid][1].output for job in flow.jobs}
    rows = []
    for step in ("relax", "static", "dos"):
        doc = outputs[step]
        out = doc.output
        rows.append(
            [
                step,
                _fmt(out.energy_per_atom, ".4f"),
                _fmt(doc.structure.volume / len(doc.structure), ".3f"),
                _fmt(out.efermi, ".3f"),
                _fmt(out.band_gap, ".3f"),
                _fmt(out.wall_time, ".1f"),
            ]
        )
    dos = outputs["dos"]
    notes = [f"Run directories under {root}", f"BLAS loaded by pw.x: {dos.blas}"]
    if getattr(dos, "dos", None) is not None:
        n_energies, n_sites = len(dos.dos.energies), len(getattr(dos.dos, "pdos", {}))
        notes.append(f"DOS: {n_energies} energies, projected on {n_sites} sites")
    return {"rows": rows, "notes": notes, "outputs": outputs}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
