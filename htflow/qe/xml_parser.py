"""Read pw.x's XML data file (QEXSD schema, Hartree atomic units) into eV, Å and GPa.

ElementTree only: the schema is stable enough across 6.x/7.x that a few tag look-ups do,
and nothing here needs validation. Every reader returns None for what the file lacks.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from htflow.qe.units import (
    BOHR_TO_ANGSTROM,
    HARTREE_PER_BOHR3_TO_GPA,
    HARTREE_PER_BOHR_TO_EV_PER_ANGSTROM,
    HARTREE_TO_EV,
)


@dataclass
class XmlData:
    """What the XML holds, already converted (eV, Å, eV/Å, GPa, μB)."""

    version: str | None = None
    created: datetime | None = None
    calculation: str | None = None
    structure: Structure | None = None
    input_structure: Structure | None = None
    alat: float | None = None  # Å, pw.x's lattice parameter
    energy: float | None = None
    smearing_energy: float | None = None  # -TS (eV), QE's "demet"
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    efermi: float | None = None
    efermi_up_down: tuple[float, float] | None = None
    homo: float | None = None
    lumo: float | None = None
    occupations_kind: str | None = None
    nelec: float | None = None
    n_kpoints: int | None = None
    n_bands: int | None = None
    # eigenvalues/occupations: shape (nspin, nk, nbnd), eV and 0..1 per spin channel.
    eigenvalues: np.ndarray | None = None
    occupations: np.ndarray | None = None
    k_weights: np.ndarray | None = None
    lsda: bool = False
    total_magnetization: float | None = None
    absolute_magnetization: float | None = None
    scf_converged: bool | None = None
    n_scf_steps: int | None = None
    ionic_converged: bool | None = None
    n_ionic_steps: int | None = None
    wall_time: float | None = None
    cpu_time: float | None = None
    nprocs: int | None = None
    n_pools: int | None = None


def parse_xml(path: str | Path) -> XmlData | None:
    """Parse one XML data file; None if it is missing or not well-formed (truncated)."""
    return _from_root(_root(path))


def shared_xml(path: str | Path) -> tuple[ET.Element, XmlData] | None:
    """The XML's tree and :func:`parse_xml`'s data, parsed once per version of the file.

    For read-only callers: the error checks of one finished run (too few bands, smearing
    artefacts, ghost states) share one parse instead of reading a large file once each.
    Keyed on the path, size and modification time, so a rewritten file is read again.
    """
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _shared(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _shared(path: str, _size: int, _mtime_ns: int) -> tuple[ET.Element, XmlData] | None:
    root = _root(path)
    data = _from_root(root)
    return None if root is None or data is None else (root, data)


def _from_root(root: ET.Element | None) -> XmlData | None:
    if root is None:
        return None
    data = XmlData()
    _read_general(root, data)
    output = root.find("output")
    if output is not None:
        _read_output(output, data)
    node = root.find("input/atomic_structure")
    data.input_structure = _structure(node)
    if node is not None and node.get("alat"):
        data.alat = float(node.get("alat", "nan")) * BOHR_TO_ANGSTROM
    return data


def read_efermi(path: str | Path) -> float | None:
    """The Fermi energy (or the highest occupied level) in eV, from an XML data file."""
    root = _root(path)
    if root is None:
        return None
    bands = root.find("output/band_structure")
    if bands is None:
        return None
    value = _float(bands, "fermi_energy")
    if value is None:
        value = _float(bands, "highestOccupiedLevel")
    return None if value is None else value * HARTREE_TO_EV


def _root(path: str | Path) -> ET.Element | None:
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None


def _read_general(root: ET.Element, data: XmlData) -> None:
    creator = root.find("general_info/creator")
    if creator is not None:
        data.version = creator.get("VERSION")
    created = root.find("general_info/created")
    if created is not None:
        data.created = _timestamp(created.get("DATE", ""), created.get("TIME", ""))
    data.calculation = _text(root, "input/control_variables/calculation")
    data.nprocs = _int(root, "parallel_info/nprocs")
    data.n_pools = _int(root, "parallel_info/npool")
    data.wall_time = _float(root, "timing_info/total/wall")
    data.cpu_time = _float(root, "timing_info/total/cpu")


def _read_output(output: ET.Element, data: XmlData) -> None:
    data.structure = _structure(output.find("atomic_structure"))
    _read_convergence(output, data)
    energy = _float(output, "total_energy/etot")
    data.energy = None if energy is None else energy * HARTREE_TO_EV
    demet = _float(output, "total_energy/demet")
    data.smearing_energy = None if demet is None else demet * HARTREE_TO_EV
    forces = _array(output.find("forces"))
    if forces is not None:
        data.forces = forces.reshape(-1, 3) * HARTREE_PER_BOHR_TO_EV_PER_ANGSTROM
    stress = _array(output.find("stress"))
    if stress is not None:
        data.stress = stress.reshape(3, 3) * HARTREE_PER_BOHR3_TO_GPA
    _read_magnetization(output, data)
    bands = output.find("band_structure")
    if bands is not None:
        _read_bands(bands, data)


def _read_convergence(output: ET.Element, data: XmlData) -> None:
    scf = output.find("convergence_info/scf_conv")
    if scf is not None:
        data.scf_converged = _bool(scf, "convergence_achieved")
        data.n_scf_steps = _int(scf, "n_scf_steps")
    opt = output.find("convergence_info/opt_conv")
    if opt is not None:
        data.ionic_converged = _bool(opt, "convergence_achieved")
        data.n_ionic_steps = _int(opt, "n_opt_steps")


def _read_magnetization(output: ET.Element, data: XmlData) -> None:
    magnetization = output.find("magnetization")
    if magnetization is None:
        return
    data.lsda = bool(_bool(magnetization, "lsda"))
    if data.lsda or _bool(magnetization, "noncolin"):
        data.total_magnetization = _float(magnetization, "total")
        data.absolute_magnetization = _float(magnetization, "absolute")


def _read_bands(bands: ET.Element, data: XmlData) -> None:
    data.nelec = _float(bands, "nelec")
    data.occupations_kind = _text(bands, "occupations_kind")
    for tag, name in (
        ("fermi_energy", "efermi"),
        ("highestOccupiedLevel", "homo"),
        ("lowestUnoccupiedLevel", "lumo"),
    ):
        value = _float(bands, tag)
        setattr(data, name, None if value is None else value * HARTREE_TO_EV)
    two = _text(bands, "two_fermi_energies")
    if two:
        up, down = (float(x) * HARTREE_TO_EV for x in two.split())
        data.efermi_up_down = (up, down)
    lsda = bool(_bool(bands, "lsda"))
    nbnd = _int(bands, "nbnd") or _int(bands, "nbnd_up")
    data.n_bands = nbnd
    data.n_kpoints = _int(bands, "nks")
    _read_eigenvalues(bands, data, lsda, nbnd)


def _read_eigenvalues(bands: ET.Element, data: XmlData, lsda: bool, nbnd: int | None) -> None:
    eigenvalues, occupations, weights = [], [], []
    for ks in bands.findall("ks_energies"):
        eig = _array(ks.find("eigenvalues"))
        occ = _array(ks.find("occupations"))
        point = ks.find("k_point")
        if eig is None or occ is None or point is None:
            return
        eigenvalues.append(eig)
        occupations.append(occ)
        weights.append(float(point.get("weight", "nan")))
    if not eigenvalues or nbnd is None:
        return
    nspin = 2 if lsda else 1
    # LSDA stores the up bands then the down bands of each k-point in one array.
    shape = (len(eigenvalues), nspin, nbnd)
    try:
        eig_array = np.array(eigenvalues).reshape(shape).transpose(1, 0, 2)
        occ_array = np.array(occupations).reshape(shape).transpose(1, 0, 2)
    except ValueError:
        return
    data.eigenvalues = eig_array * HARTREE_TO_EV
    data.occupations = occ_array
    data.k_weights = np.array(weights)


def _structure(node: ET.Element | None) -> Structure | None:
    if node is None:
        return None
    cell = [_vector(node.find(f"cell/a{i}")) for i in (1, 2, 3)]
    atoms = node.findall("atomic_positions/atom")
    if any(v is None for v in cell) or not atoms:
        return None
    lattice = Lattice(np.array(cell) * BOHR_TO_ANGSTROM)
    coords = [np.array((atom.text or "").split(), dtype=float) * BOHR_TO_ANGSTROM for atom in atoms]
    species = [element_of(atom.get("name", "")) for atom in atoms]
    return Structure(lattice, species, coords, coords_are_cartesian=True)


def element_of(label: str) -> str:
    """The element of a pw.x species label such as 'Fe', 'Fe1' or 'Fe_up'."""
    match = re.match(r"[A-Z][a-z]?", label.strip().capitalize())
    symbol = match.group(0) if match else label
    if Element.is_valid_symbol(symbol):
        return symbol
    return symbol[0]


def _timestamp(date: str, time: str) -> datetime | None:
    try:
        return datetime.strptime(date.replace(" ", "") + time.replace(" ", ""), "%d%b%Y%H:%M:%S")
    except ValueError:
        return None


def _vector(node: ET.Element | None) -> list[float] | None:
    if node is None or not node.text:
        return None
    return [float(x) for x in node.text.split()]


def _array(node: ET.Element | None) -> np.ndarray | None:
    if node is None or not node.text or not node.text.strip():
        return None
    return np.array(node.text.split(), dtype=float)


def _text(node: ET.Element, path: str) -> str | None:
    child = node.find(path)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _float(node: ET.Element, path: str) -> float | None:
    text = _text(node, path)
    return None if text is None else float(text)


def _int(node: ET.Element, path: str) -> int | None:
    text = _text(node, path)
    return None if text is None else int(text)


def _bool(node: ET.Element, path: str) -> bool | None:
    text = _text(node, path)
    return None if text is None else text.lower() == "true"
