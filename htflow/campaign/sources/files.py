"""Structure files: CIF, POSCAR/CONTCAR (``*.vasp``, ``*.poscar``) and extended XYZ; globs."""

from __future__ import annotations

import glob
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.campaign.candidate import Candidate
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure

FORMATS = (
    "CIF (*.cif), POSCAR/CONTCAR (POSCAR*, CONTCAR*, *.vasp, *.poscar), extxyz (*.extxyz, *.xyz)"
)


def structures_from_files(patterns: list[str], base_dir: Path) -> list[Candidate]:
    """Read every file that ``patterns`` name (relative paths start at ``base_dir``).

    Raises
    ------
    InputError
        A pattern that matches nothing, an unknown format or an unreadable file.
    """
    candidates = []
    for index, pattern in enumerate(patterns):
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else base_dir / full
        paths = sorted(Path(p) for p in glob.glob(str(full), recursive=True))
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise InputError(
                f"sources.files[{index}] {pattern!r} matches no file under {base_dir}: "
                "fix the path (relative paths start at the campaign file's directory)"
            )
        for path in paths:
            entry = f"sources.files[{index}] {_shown(path, base_dir)}"
            for frame, structure in enumerate(read_structure_file(path)):
                suffix = f"@{frame}" if frame else ""
                candidates.append(Candidate(structure, entry + suffix, "files"))
    return candidates


def read_structure_file(path: Path) -> list[Structure]:
    """The structures in one file (an extxyz file may hold several frames)."""
    kind = _format(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "cif":
                return _read_cif(path)
            if kind == "poscar":
                return [_read_poscar(path)]
            return _read_extxyz(path)
    except InputError:
        raise
    except Exception as exc:  # parsers raise anything from ValueError to IndexError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read it as {kind} ({first}): fix the file") from exc


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".cif"):
        return "cif"
    if name.startswith(("poscar", "contcar")) or name.endswith((".vasp", ".poscar")):
        return "poscar"
    if name.endswith((".extxyz", ".xyz")):
        return "extxyz"
    raise InputError(f"{path}: unknown structure format: use {FORMATS}")


def _read_cif(path: Path) -> list[Structure]:
    from pymatgen.io.cif import CifParser

    structures = CifParser(path).parse_structures(primitive=False)
    if not structures:
        raise InputError(f"{path}: no structure in this CIF: check its atom_site loop")
    return list(structures)


def _read_poscar(path: Path) -> Structure:
    from pymatgen.io.vasp import Poscar

    _check_poscar_counts(path)
    return Poscar.from_file(path, check_for_potcar=False).structure


def _check_poscar_counts(path: Path) -> None:
    """The counts line must match the coordinate lines (pymatgen does not always notice)."""
    lines = path.read_text().splitlines()
    index = 5
    if index < len(lines) and not _all_ints(lines[index]):
        index += 1  # VASP 5: element symbols before the counts
    if index >= len(lines) or not _all_ints(lines[index]):
        raise InputError(f"{path}: no atom counts line in this POSCAR: fix the header")
    declared = sum(int(x) for x in lines[index].split())
    index += 1
    if index < len(lines) and lines[index].strip().lower().startswith("s"):
        index += 1  # Selective dynamics
    index += 1  # Direct / Cartesian
    found = 0
    for line in lines[index:]:
        if not _starts_with_three_floats(line):
            break
        found += 1
    if found != declared:
        raise InputError(
            f"{path}: the POSCAR declares {declared} atoms but lists {found} positions: "
            "make the counts line match the coordinates"
        )


def _all_ints(line: str) -> bool:
    parts = line.split()
    return bool(parts) and all(p.isdigit() for p in parts)


def _starts_with_three_floats(line: str) -> bool:
    parts = line.split()
    if len(parts) < 3:
        return False
    try:
        [float(p) for p in parts[:3]]
    except ValueError:
        return False
    return True


def _read_extxyz(path: Path) -> list[Structure]:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = read(path, index=":", format="extxyz")
    structures = []
    for frame, atoms in enumerate(frames if isinstance(frames, list) else [frames]):
        if not atoms.pbc.all() or atoms.cell.rank != 3:
            raise InputError(
                f'{path} frame {frame}: no periodic cell: add Lattice="..." pbc="T T T"'
            )
        structures.append(AseAtomsAdaptor.get_structure(atoms))
    return structures


def _shown(path: Path, base_dir: Path) -> str:
    try:
        return str(path.relative_to(base_dir))
    except ValueError:
        return str(path)
