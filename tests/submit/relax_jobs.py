"""Pure-Python stand-ins for a relaxation and its consumers (no pw.x), importable by the worker.

:class:`ScaleRelaxMaker` is a relaxation by its class name, which is what
:mod:`htflow.submit.reuse` keys on. Its "relaxed" cell is the input scaled to a fixed volume
per atom, and its output names the launch directory it ran in, so a consumer's result shows
which run it used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobflow import Flow, Maker, job
from pymatgen.core import Structure

# Set in the worker's environment, the relaxation fails (a FIZZLED original).
FAIL_ENV = "TOY_RELAX_FAIL"


@dataclass
class ScaleRelaxMaker(Maker):
    """Scales the cell to ``volume_per_atom`` (Å^3)."""

    name: str = "relax"
    volume_per_atom: float = 21.0

    @job
    def make(self, structure: Structure) -> dict[str, Any]:
        """``structure`` (the relaxed cell) and ``launch_dir`` (where it ran)."""
        if os.environ.get(FAIL_ENV):
            raise RuntimeError(f"relaxation failed ({FAIL_ENV} is set)")
        relaxed = structure.copy()
        relaxed.scale_lattice(self.volume_per_atom * len(structure))
        return {"structure": relaxed, "launch_dir": Path.cwd().name}


@job
def volume_per_atom(structure: Structure) -> float:
    """Volume per atom (Å^3)."""
    return float(structure.volume / len(structure))


@job
def lattice_a(structure: Structure) -> float:
    """Length of the first lattice vector (Å)."""
    return float(structure.lattice.a)


@job
def relaxed_in(outputs: list[dict[str, Any]]) -> str:
    """The launch directory the first relaxation it is given ran in."""
    return str(outputs[0]["launch_dir"])


def relax_then(structure: Structure, consumer: Any) -> Flow:
    """relax → ``consumer(relaxed structure)`` and ``relaxed_in([whole relax output])``."""
    relax = ScaleRelaxMaker().make(structure)
    used = consumer(relax.output["structure"])
    where = relaxed_in([relax.output])
    return Flow([relax, used, where], name=f"relax then {consumer.__name__}")
