"""dos.x and projwfc.x: render their namelist inputs, parse their outputs into pymatgen DOS.

The runner calls ``dos.x -in dos.in`` and ``projwfc.x -in projwfc.in`` in a pw.x run
directory after an nscf run (``outdir='out'``, ``prefix='pwscf'``). Energies in the files
these programs write are already in eV.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.electronic_structure.core import Orbital, Spin
from pymatgen.electronic_structure.dos import CompleteDos, Dos

from htflow.qe.rundir import OUTDIR, PREFIX, PwRunDir
from htflow.qe.xml_parser import read_efermi

if TYPE_CHECKING:
    from pymatgen.core import Structure

DOS_FILE = "pwscf.dos"
PDOS_PREFIX = "pwscf"

# pymatgen renamed Orbital.dx2 to dx2_y2 (the old name is deprecated).
_DX2_Y2 = Orbital["dx2_y2"] if "dx2_y2" in Orbital.__members__ else Orbital["dx2"]
# projwfc.x writes the m-resolved columns of each l in QE's real-harmonics order.
_QE_ORBITALS: dict[str, tuple[Orbital, ...]] = {
    "s": (Orbital.s,),
    "p": (Orbital.pz, Orbital.px, Orbital.py),
    "d": (Orbital.dz2, Orbital.dxz, Orbital.dyz, _DX2_Y2, Orbital.dxy),
    "f": (
        Orbital.f0,
        Orbital.f1,
        Orbital.f_1,
        Orbital.f2,
        Orbital.f_2,
        Orbital.f3,
        Orbital.f_3,
    ),
}
_PDOS_NAME = re.compile(r"\.pdos_atm#(\d+)\((\w+)\)_wfc#(\d+)\((\w)\)$")
_EFERMI = re.compile(r"EFermi\s*=\s*([-\d.Ee+]+)")


def _namelist(name: str, values: dict[str, float | int | str | None]) -> str:
    lines = [f"&{name}"]
    for key, value in values.items():
        if value is None:
            continue
        rendered = f"'{value}'" if isinstance(value, str) else repr(value)
        lines.append(f"  {key} = {rendered}")
    lines.append("/")
    return "\n".join(lines) + "\n"


def dos_input(
    emin: float | None = None,
    emax: float | None = None,
    delta_e: float = 0.01,
    degauss: float | None = None,
    fildos: str = DOS_FILE,
) -> str:
    """Render the ``&DOS`` namelist for dos.x.

    Parameters
    ----------
    emin, emax
        Energy window (eV); None lets dos.x use the band extrema.
    delta_e
        Energy grid step (eV).
    degauss
        Gaussian broadening (Ry, as in dos.x); None uses the nscf run's smearing or
        tetrahedra.
    fildos
        Output file name, relative to the run directory.
    """
    return _namelist(
        "DOS",
        {
            "outdir": OUTDIR,
            "prefix": PREFIX,
            "fildos": fildos,
            "Emin": emin,
            "Emax": emax,
            "DeltaE": delta_e,
            "degauss": degauss,
        },
    )


def projwfc_input(
    emin: float | None = None,
    emax: float | None = None,
    delta_e: float = 0.01,
    degauss: float | None = None,
    filpdos: str = PDOS_PREFIX,
) -> str:
    """Render the ``&PROJWFC`` namelist for projwfc.x.

    Parameters are as in :func:`dos_input`; ``filpdos`` is the prefix of the
    ``<filpdos>.pdos_atm#N(El)_wfc#M(l)`` files.
    """
    return _namelist(
        "PROJWFC",
        {
            "outdir": OUTDIR,
            "prefix": PREFIX,
            "filpdos": filpdos,
            "Emin": emin,
            "Emax": emax,
            "DeltaE": delta_e,
            "degauss": degauss,
        },
    )


def parse_dos(directory: str | Path = ".", filename: str = DOS_FILE) -> Dos | None:
    """Read dos.x's output into a pymatgen :class:`Dos` (energies in eV, states/eV/cell).

    Returns None when the file is missing or holds no data. With nspin=2 the file has
    up and down columns; otherwise the one column is stored as spin up.
    """
    path = Path(directory) / filename
    if not path.is_file():
        return None
    header = path.read_text().partition("\n")[0]
    data = _load_columns(path)
    if data is None:
        return None
    match = _EFERMI.search(header)
    efermi = float(match.group(1)) if match else _xml_efermi(directory)
    energies = data[:, 0]
    # Columns: E, dos, intdos (nspin=1) or E, dosup, dosdw, intdos (nspin=2).
    if data.shape[1] >= 4:
        densities = {Spin.up: data[:, 1], Spin.down: data[:, 2]}
    else:
        densities = {Spin.up: data[:, 1]}
    return Dos(efermi, energies, densities)


def parse_integrated_dos(directory: str | Path = ".", filename: str = DOS_FILE) -> Dos | None:
    """Read the integrated-DOS column of dos.x's output (electrons per cell) as a Dos."""
    path = Path(directory) / filename
    data = _load_columns(path) if path.is_file() else None
    if data is None:
        return None
    match = _EFERMI.search(path.read_text().partition("\n")[0])
    efermi = float(match.group(1)) if match else _xml_efermi(directory)
    return Dos(efermi, data[:, 0], {Spin.up: data[:, -1]})


def parse_projwfc(
    directory: str | Path, structure: Structure, prefix: str = PDOS_PREFIX
) -> CompleteDos | None:
    """Build a :class:`CompleteDos` from projwfc.x's files in ``directory``.

    The total DOS is ``<prefix>.pdos_tot`` (or dos.x's file as a fallback); each site's
    projections come from ``<prefix>.pdos_atm#N(El)_wfc#M(l)``, with the m-resolved
    columns mapped to pymatgen orbitals and several wavefunctions of the same l (e.g.
    semicore 3s and valence 4s) summed. Energies are in eV, densities in states/eV.

    Parameters
    ----------
    directory
        The run directory where projwfc.x ran.
    structure
        The structure of the calculation; site N of projwfc.x is ``structure[N - 1]``.
    prefix
        projwfc.x's ``filpdos``.

    Returns
    -------
    The complete DOS, or None when projwfc.x's files are missing.
    """
    directory = Path(directory)
    files = sorted(directory.glob(f"{prefix}.pdos_atm#*"))
    total = _parse_pdos_tot(directory / f"{prefix}.pdos_tot") or parse_dos(directory)
    if not files or total is None:
        return None
    pdoss: dict = defaultdict(dict)
    for path in files:
        match = _PDOS_NAME.search(path.name)
        if match is None:
            continue
        site = structure[int(match.group(1)) - 1]
        for orbital, densities in _orbital_densities(path, match.group(4)).items():
            current = pdoss[site].get(orbital)
            if current is None:
                pdoss[site][orbital] = densities
            else:
                pdoss[site][orbital] = {s: current[s] + densities[s] for s in densities}
    return CompleteDos(structure, total, dict(pdoss))


def _parse_pdos_tot(path: Path) -> Dos | None:
    data = _load_columns(path) if path.is_file() else None
    if data is None:
        return None
    efermi = _xml_efermi(path.parent)
    # Columns: E, dos, pdos (nspin=1) or E, dosup, dosdw, pdosup, pdosdw (nspin=2).
    if data.shape[1] >= 5:
        densities = {Spin.up: data[:, 1], Spin.down: data[:, 2]}
    else:
        densities = {Spin.up: data[:, 1]}
    return Dos(efermi, data[:, 0], densities)


def _orbital_densities(path: Path, l_label: str) -> dict[Orbital, dict[Spin, np.ndarray]]:
    data = _load_columns(path)
    orbitals = _QE_ORBITALS.get(l_label)
    if data is None or orbitals is None:
        return {}
    n_m = len(orbitals)
    # Columns: E, ldos, m-resolved pdos (nspin=1); E, ldosup, ldosdw, then up/down pairs
    # of each m (nspin=2).
    spin_polarized = data.shape[1] == 1 + 2 + 2 * n_m
    result: dict[Orbital, dict[Spin, np.ndarray]] = {}
    for i, orbital in enumerate(orbitals):
        if spin_polarized:
            result[orbital] = {Spin.up: data[:, 3 + 2 * i], Spin.down: data[:, 4 + 2 * i]}
        else:
            result[orbital] = {Spin.up: data[:, 2 + i]}
    return result


def _load_columns(path: Path) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            # An empty file (program stopped before writing) is a None, not a warning.
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError:
        return None
    return data if data.size else None


def _xml_efermi(directory: str | Path) -> float:
    xml = PwRunDir(directory).find_xml()
    efermi = read_efermi(xml) if xml is not None else None
    return 0.0 if efermi is None else efermi
