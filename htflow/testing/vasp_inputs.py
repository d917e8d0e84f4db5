"""Minimal readers of INCAR, KPOINTS and POSCAR for the stand-in VASP executable.

The stand-in starts once per VASP attempt; importing ``pymatgen.io.vasp`` takes seconds, these
readers take none. They read what the replay compares, nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

_TRUE = {".true.", "t", "true", ".t."}
_FALSE = {".false.", "f", "false", ".f."}


def _scalar(token: str) -> Any:
    low = token.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token.replace("d", "e").replace("D", "e"))
    except ValueError:
        return token


def parse_incar_value(text: str) -> Any:
    """One INCAR value: a scalar, or a list with ``n*x`` repeats expanded."""
    tokens = text.split()
    values: list[Any] = []
    for token in tokens:
        count, star, value = token.partition("*")
        if star and count.isdigit():
            values += [_scalar(value)] * int(count)
        else:
            values.append(_scalar(token))
    if len(values) == 1:
        return values[0]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return values
    return text.strip()  # e.g. SYSTEM = some words


def read_incar(path: Path) -> dict[str, Any]:
    """INCAR tags (upper case) → values; comments after ``#`` or ``!`` dropped."""
    tags: dict[str, Any] = {}
    for raw in path.read_text().splitlines():
        for statement in re.split(r"[#!]", raw, maxsplit=1)[0].split(";"):
            key, eq, value = statement.partition("=")
            if eq and key.strip():
                tags[key.strip().upper()] = parse_incar_value(value)
    return tags


@dataclass(frozen=True)
class KpointsMesh:
    """An automatic k-point mesh (Gamma or Monkhorst-Pack), or the raw text of other styles."""

    style: str
    mesh: tuple[int, ...] | None
    text: str


def read_kpoints(path: Path) -> KpointsMesh:
    """The style (first letter of line 3, upper case) and mesh of a KPOINTS file."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    style = lines[2][:1].upper() if len(lines) > 2 else ""
    mesh = None
    if len(lines) > 3 and lines[1] == "0" and style in {"G", "M"}:
        mesh = tuple(int(x) for x in lines[3].split()[:3])
    return KpointsMesh(style=style, mesh=mesh, text="\n".join(lines[1:]))


@dataclass(frozen=True)
class PoscarCell:
    """Species, counts, lattice (Å) and fractional coordinates of a POSCAR."""

    species: tuple[str, ...]
    counts: tuple[int, ...]
    lattice: np.ndarray
    frac_coords: np.ndarray

    @property
    def parameters(self) -> tuple[float, ...]:
        """a, b, c (Å) and α, β, γ (degrees)."""
        a, b, c = (float(np.linalg.norm(v)) for v in self.lattice)
        v1, v2, v3 = self.lattice

        def angle(x: np.ndarray, y: np.ndarray) -> float:
            cos = np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))
            return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))

        return a, b, c, angle(v2, v3), angle(v1, v3), angle(v1, v2)


def read_poscar(path: Path) -> PoscarCell:
    """A VASP 5 POSCAR (species line present), direct or Cartesian coordinates."""
    lines = path.read_text().splitlines()
    scale = float(lines[1].split()[0])
    lattice = np.array([[float(x) for x in lines[i].split()[:3]] for i in (2, 3, 4)]) * scale
    species = tuple(lines[5].split())
    counts = tuple(int(x) for x in lines[6].split())
    row = 7
    if lines[row].strip()[:1].upper() == "S":  # selective dynamics
        row += 1
    cartesian = lines[row].strip()[:1].upper() in {"C", "K"}
    n_sites = sum(counts)
    coords = np.array([[float(x) for x in lines[row + 1 + i].split()[:3]] for i in range(n_sites)])
    if cartesian:
        coords = np.linalg.solve(lattice.T, (coords * scale).T).T
    return PoscarCell(species, counts, lattice, coords)


def unmatched_sites(reference: np.ndarray, found: np.ndarray, atol: float) -> list[int]:
    """Indices of ``found`` fractional coordinates with no periodic image in ``reference``."""
    off = []
    for index, xyz in enumerate(found):
        delta = reference - xyz
        delta -= np.round(delta)
        if not np.any(np.all(np.abs(delta) < atol, axis=1)):
            off.append(index)
    return off
