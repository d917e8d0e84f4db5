"""The structures of a relax / vc-relax as pw.x prints them to stdout, step by step.

pw.x prints a new ``ATOMIC_POSITIONS`` block (and, for vc-relax, a ``CELL_PARAMETERS``
block before it) after each ionic step, in the units of the input: ``alat``, ``bohr``,
``angstrom`` or ``crystal`` for positions; ``alat= <bohr>``, ``bohr`` or ``angstrom`` for
the cell. A run killed while printing leaves a truncated last block, which is skipped.
"""

from __future__ import annotations

import re

import numpy as np
from pymatgen.core import Lattice, Structure

from htflow.qe.stdout_parser import parse_alat, parse_initial_structure
from htflow.qe.units import BOHR_TO_ANGSTROM
from htflow.qe.xml_parser import element_of

_BLOCK = re.compile(r"^(CELL_PARAMETERS|ATOMIC_POSITIONS)\s*[({]?\s*([^)}\n]*)[)}]?\s*$", re.M)
# A row: an optional species label (starts with a letter), then three numbers.
_ROW = re.compile(r"^\s*(?:([A-Za-z]\S*)\s+)?([-+]?\d*\.\d+)\s+([-+]?\d*\.\d+)\s+([-+]?\d*\.\d+)")
_NAT = re.compile(r"number of atoms/cell\s*=\s*(\d+)")


def structures_from_stdout(
    text: str, initial: Structure | None = None, alat: float | None = None
) -> list[Structure]:
    """Every complete structure printed after an ionic step, in order (Å).

    Parameters
    ----------
    text
        pw.x's stdout.
    initial
        The input structure, whose cell is used until a CELL_PARAMETERS block changes it;
        by default the cell pw.x echoes in its header (six significant decimals only).
    alat
        pw.x's alat (Å) for blocks in alat units; by default read from the header.
    """
    initial = initial or parse_initial_structure(text)
    alat = alat or parse_alat(text)
    nat_match = _NAT.search(text)
    if initial is None or alat is None or nat_match is None:
        return []
    nat = int(nat_match.group(1))
    lattice = initial.lattice
    structures: list[Structure] = []
    for match in _BLOCK.finditer(text):
        rows = _rows(text, match.end(), 3 if match.group(1) == "CELL_PARAMETERS" else nat)
        if rows is None:
            continue
        if match.group(1) == "CELL_PARAMETERS":
            matrix = _cell(rows, match.group(2), alat)
            if matrix is not None:
                lattice = Lattice(matrix)
            continue
        structure = _positions(rows, match.group(2), lattice, alat)
        if structure is not None:
            structures.append(structure)
    return structures


def _rows(text: str, start: int, count: int) -> list[tuple[str, np.ndarray]] | None:
    lines = text[start:].lstrip("\n").splitlines()[:count]
    rows = []
    for line in lines:
        match = _ROW.match(line)
        if match is None:
            return None
        rows.append((match.group(1) or "", np.array(match.groups()[1:], dtype=float)))
    return rows if len(rows) == count else None


def _cell(rows: list[tuple[str, np.ndarray]], option: str, alat: float) -> np.ndarray | None:
    matrix = np.array([vector for _, vector in rows])
    option = option.strip().lower()
    if option.startswith("alat"):
        # 'alat= 7.2000' gives the alat of the printed cell, in bohr.
        value = re.search(r"[\d.]+", option.split("=", 1)[-1]) if "=" in option else None
        scale = float(value.group(0)) * BOHR_TO_ANGSTROM if value else alat
        return matrix * scale
    if option == "bohr":
        return matrix * BOHR_TO_ANGSTROM
    if option == "angstrom":
        return matrix
    return None


def _positions(
    rows: list[tuple[str, np.ndarray]], option: str, lattice: Lattice, alat: float
) -> Structure | None:
    species = [element_of(label) for label, _ in rows]
    coords = np.array([vector for _, vector in rows])
    option = option.strip().lower()
    scale = {"alat": alat, "bohr": BOHR_TO_ANGSTROM, "angstrom": 1.0}.get(option)
    if option == "crystal":
        return Structure(lattice, species, coords)
    if scale is None:
        return None
    return Structure(lattice, species, coords * scale, coords_are_cartesian=True)
