"""Small structures and fake ML relaxation documents for the ML tests."""

from __future__ import annotations

from typing import Any

from pymatgen.core import Lattice, Structure

from htflow.ml.relax import MLRelaxDoc, relax_protocol


def fcc(symbol: str, a: float) -> Structure:
    """The one-atom primitive cell of an fcc crystal with cubic lattice constant ``a`` (Å)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [symbol], [[0, 0, 0]]
    ).get_primitive_structure()


def diamond(symbol: str, a: float) -> Structure:
    """The two-atom primitive cell of a diamond crystal (Å)."""
    return Structure.from_spacegroup(
        "Fd-3m", Lattice.cubic(a), [symbol], [[0, 0, 0]]
    ).get_primitive_structure()


def rocksalt(cation: str, anion: str, a: float) -> Structure:
    """The two-atom primitive cell of a rocksalt crystal (Å)."""
    lattice = Lattice.cubic(a)
    return Structure.from_spacegroup(
        "Fm-3m", lattice, [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()


def fake_doc(structure: Structure, energy_per_atom: float | None, **fields: Any) -> MLRelaxDoc:
    """An MLRelaxDoc as if a model had relaxed ``structure`` to ``energy_per_atom`` (eV/atom)."""
    values: dict[str, Any] = {
        "structure": structure,
        "input_structure": structure,
        "formula": structure.composition.reduced_formula,
        "energy": None if energy_per_atom is None else energy_per_atom * len(structure),
        "energy_per_atom": energy_per_atom,
        "n_steps": 10,
        "converged": True,
        "max_force": 0.01,
        "model": "chgnet",
        "model_version": "chgnet 0.4.2, CHGNet 0.3.0 weights",
        "protocol": relax_protocol(0.05, 500, True),
        "elapsed_seconds": 0.1,
    }
    values.update(fields)
    return MLRelaxDoc(**values)
