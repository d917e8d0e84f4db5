"""Read pw.x's standard output (``pw.out``, Ry atomic units) into eV, Å and GPa.

The stdout is the fallback and the only record of a run that crashed or was killed
before writing its XML, so every reader here tolerates truncation and returns None (or
an empty list) for what the text lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from pymatgen.core import Lattice, Structure

from htflow.qe.rundir import PW_HEADER
from htflow.qe.units import (
    BOHR_TO_ANGSTROM,
    KBAR_TO_GPA,
    RY_PER_BOHR_TO_EV_PER_ANGSTROM,
    RY_TO_EV,
)
from htflow.qe.xml_parser import element_of

_FLOAT = r"[-+]?\d*\.\d+(?:[EeDd][-+]?\d+)?"
_NPROCS = re.compile(r"(?:running on|Number of MPI processes:)\s+(\d+)")
_NPOOL = re.compile(r"K-points division:\s+npool\s*=\s*(\d+)")
_ALAT = re.compile(rf"lattice parameter \(alat\)\s*=\s*({_FLOAT})\s+a\.u\.")
_CELLDM1 = re.compile(rf"celldm\(1\)=\s*({_FLOAT})")
_TOTAL_ENERGY = re.compile(rf"^!+\s*total energy\s*=\s*({_FLOAT})\s+Ry", re.M)
_SMEARING = re.compile(rf"smearing contrib\. \(-TS\)\s*=\s*({_FLOAT})\s+Ry")
_EFERMI = re.compile(rf"the Fermi energy is\s+({_FLOAT})\s+ev")
_EFERMI_UP_DOWN = re.compile(rf"the spin up/dw Fermi energies are\s+({_FLOAT})\s+({_FLOAT})\s+ev")
_HOMO_LUMO = re.compile(
    rf"highest occupied, lowest unoccupied level \(ev\):\s+({_FLOAT})\s+({_FLOAT})"
)
_HOMO = re.compile(rf"highest occupied level \(ev\):\s+({_FLOAT})")
_MAGNETIZATION = re.compile(rf"(total|absolute) magnetization\s*=\s*({_FLOAT})\s+Bohr mag/cell")
_FORCE = re.compile(rf"atom\s+\d+\s+type\s+\d+\s+force =\s+({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})")
_STRESS_HEADER = "total   stress"
_SCF_DONE = re.compile(r"convergence has been achieved in\s+(\d+) iterations")
_SCF_FAILED = re.compile(r"convergence NOT achieved after\s+(\d+) iterations")
_TIMING = re.compile(r"PWSCF\s+:\s*(.+?)CPU\s+(.+?)WALL")
_NKS = re.compile(r"number of k points=\s*(\d+)")
_NBND = re.compile(r"number of Kohn-Sham states=\s*(\d+)")
_PSEUDO = re.compile(
    r"PseudoPot\. #\s*\d+ for (\S+) read from file:\s*\n\s*(\S+)\s*\n\s*MD5 check sum:\s*(\S+)"
)
_IONIC_DONE = ("bfgs converged", "Final enthalpy", "Final energy")
_IONIC_FAILED = (
    "The maximum number of steps has been reached",
    "bfgs failed",
    "history already reset",
)


@dataclass
class StdoutData:
    """What pw.x's stdout holds, already converted (eV, Å, eV/Å, GPa, μB, s)."""

    version: str | None = None
    started: datetime | None = None
    job_done: bool = False
    nprocs: int | None = None
    n_pools: int | None = None
    energies: list[float] = field(default_factory=list)
    smearing_energy: float | None = None
    efermi: float | None = None
    homo: float | None = None
    lumo: float | None = None
    total_magnetization: float | None = None
    absolute_magnetization: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    scf_converged: bool | None = None
    n_scf_steps: int | None = None
    ionic_converged: bool | None = None
    n_kpoints: int | None = None
    n_bands: int | None = None
    wall_time: float | None = None
    cpu_time: float | None = None
    pseudos: list[tuple[str, str, str]] = field(default_factory=list)  # element, path, md5


def parse_stdout(text: str) -> StdoutData:
    """Parse the text of pw.x's stdout; never raises on truncated or odd output."""
    data = StdoutData(job_done="JOB DONE." in text)
    _read_header(text, data)
    data.energies = [float(x) * RY_TO_EV for x in _TOTAL_ENERGY.findall(text)]
    data.smearing_energy = _last_float(_SMEARING, text, RY_TO_EV)
    _read_levels(text, data)
    _read_magnetization(text, data)
    data.forces = _last_forces(text)
    data.stress = _last_stress(text)
    _read_scf(text, data)
    data.ionic_converged = _ionic_converged(text)
    timing = _TIMING.findall(text)
    if timing:
        data.cpu_time, data.wall_time = (_seconds(x) for x in timing[-1])
    return data


def _read_header(text: str, data: StdoutData) -> None:
    match = PW_HEADER.search(text)
    if match:
        data.version = match.group(1)
        data.started = _timestamp(match.group(2), match.group(3))
    data.nprocs = _first_int(_NPROCS, text)
    data.n_pools = _first_int(_NPOOL, text) or (1 if data.nprocs is not None else None)
    data.n_kpoints = _first_int(_NKS, text)
    data.n_bands = _first_int(_NBND, text)
    data.pseudos = [(element_of(el), path, md5) for el, path, md5 in _PSEUDO.findall(text)]


def _read_levels(text: str, data: StdoutData) -> None:
    data.efermi = _last_float(_EFERMI, text)
    up_down = _EFERMI_UP_DOWN.findall(text)
    if data.efermi is None and up_down:
        data.efermi = max(float(x) for x in up_down[-1])
    homo_lumo = _HOMO_LUMO.findall(text)
    if homo_lumo:
        data.homo, data.lumo = (float(x) for x in homo_lumo[-1])
    else:
        data.homo = _last_float(_HOMO, text)


def _read_magnetization(text: str, data: StdoutData) -> None:
    values: dict[str, float] = {}
    for kind, value in _MAGNETIZATION.findall(text):
        values[kind] = float(value)
    data.total_magnetization = values.get("total")
    data.absolute_magnetization = values.get("absolute")


def _read_scf(text: str, data: StdoutData) -> None:
    last_start = text.rfind("iteration #  1 ")
    if last_start < 0:
        return
    tail = text[last_start:]
    data.n_scf_steps = tail.count("iteration #")
    if _SCF_DONE.search(tail):
        data.scf_converged = True
    else:
        # No verdict: pw.x stopped (maxstep) or was stopped (killed, crashed) mid-SCF.
        data.scf_converged = False


def _ionic_converged(text: str) -> bool | None:
    if "Geometry Optimization" not in text and "ATOMIC_POSITIONS" not in text:
        return None
    if any(marker in text for marker in _IONIC_FAILED):
        return False
    return any(marker in text for marker in _IONIC_DONE)


def _last_forces(text: str) -> np.ndarray | None:
    start = text.rfind("Forces acting on atoms")
    if start < 0:
        return None
    end = text.find("Total force", start)
    block = text[start : end if end > 0 else None]
    # Stop at the first break-down block (high verbosity) that repeats the atoms.
    block = block.split("contrib.", 1)[0]
    forces = [[float(x) for x in match] for match in _FORCE.findall(block)]
    if not forces:
        return None
    return np.array(forces) * RY_PER_BOHR_TO_EV_PER_ANGSTROM


def _last_stress(text: str) -> np.ndarray | None:
    start = text.rfind(_STRESS_HEADER)
    if start < 0:
        return None
    lines = text[start:].splitlines()[1:4]
    try:
        # Each row: three values in Ry/bohr^3, then the same three in kbar.
        rows = [[float(x) for x in line.split()[3:6]] for line in lines]
        return np.array(rows).reshape(3, 3) * KBAR_TO_GPA
    except ValueError:
        return None


def parse_alat(text: str) -> float | None:
    """The lattice parameter alat (Å) from the stdout header."""
    # The first one: a vc-relax's final SCF prints the header again with the same alat.
    # celldm(1) carries six decimals where the 'lattice parameter' line has four.
    match = _CELLDM1.search(text) or _ALAT.search(text)
    return None if match is None else float(match.group(1)) * BOHR_TO_ANGSTROM


def parse_initial_structure(text: str) -> Structure | None:
    """The input structure as pw.x echoes it in the header (crystal axes, tau in alat)."""
    alat = parse_alat(text)
    axes = re.findall(rf"a\(\d\) = \(\s*({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})\s*\)", text)
    # The first echo of the positions: a vc-relax's final SCF prints the relaxed ones again.
    parts = text.split("Cartesian axes", 2)
    sites = re.findall(
        rf"\d+\s+(\S+)\s+tau\(\s*\d+\) = \(\s*({_FLOAT})\s+({_FLOAT})\s+({_FLOAT})\s*\)",
        parts[1] if len(parts) > 1 else "",
    )
    if alat is None or len(axes) < 3 or not sites:
        return None
    lattice = Lattice(np.array(axes[:3], dtype=float) * alat)
    species = [element_of(site[0]) for site in sites]
    coords = np.array([site[1:] for site in sites], dtype=float) * alat
    return Structure(lattice, species, coords, coords_are_cartesian=True)


def _timestamp(date: str, time: str) -> datetime | None:
    try:
        return datetime.strptime(date.replace(" ", "") + time.replace(" ", ""), "%d%b%Y%H:%M:%S")
    except ValueError:
        return None


def _seconds(text: str) -> float | None:
    """pw.x's clock: '12.3s', '1m 5.2s' or '2h 3m'."""
    total = 0.0
    parts = re.findall(r"([\d.]+)\s*([hms])", text)
    if not parts:
        return None
    for value, unit in parts:
        total += float(value) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit]
    return total


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def _last_float(pattern: re.Pattern[str], text: str, factor: float = 1.0) -> float | None:
    matches = pattern.findall(text)
    if not matches:
        return None
    last = matches[-1]
    return float(last[0] if isinstance(last, tuple) else last) * factor
