"""What a non-SCF run adds to its task document: the DOS (dos.x, projwfc.x) or the bands."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.electronic_structure.bandstructure import BandStructureSymmLine
from pymatgen.electronic_structure.core import Spin

from htflow.qe.dos import dos_input, parse_dos, parse_projwfc, projwfc_input
from htflow.qe.run import run_qe_tool
from htflow.qe.rundir import PwRunDir
from htflow.qe.units import BOHR_TO_ANGSTROM
from htflow.qe.xml_parser import XmlData, parse_xml

if TYPE_CHECKING:
    from htflow.qe.pwinput import PwInput

DOS_STEP = 0.01  # eV: fine enough for band edges, small enough for the data store


def dos_fields(directory: Path, pw_input: PwInput) -> dict[str, Any]:
    """Run projwfc.x (dos.x only without projections); return ``{"dos": CompleteDos}``.

    projwfc.x writes the total DOS (``pdos_tot``, from the same eigenvalues and broadening as
    dos.x) next to the projections, so dos.x only runs when projwfc.x produced none (e.g. a
    pseudopotential without atomic wavefunctions); the result is then the total DOS alone.
    Skipping the duplicate saves dos.x's tetrahedron sum, which took 1-3 times as long as
    the non-SCF run itself in the demo campaign (Al: 75 s against 3.6 s for pw.x).
    """
    (directory / "projwfc.in").write_text(projwfc_input(delta_e=DOS_STEP))
    run_qe_tool("projwfc", directory)
    complete = parse_projwfc(directory, pw_input.structure)
    if complete is not None:
        return {"dos": complete}
    (directory / "dos.in").write_text(dos_input(delta_e=DOS_STEP))
    run_qe_tool("dos", directory)
    total = parse_dos(directory)
    return {"dos": total} if total is not None else {}


def band_structure_fields(directory: Path, pw_input: PwInput) -> dict[str, Any]:
    """Read the line-mode eigenvalues into ``{"band_structure": BandStructureSymmLine}``."""
    path = PwRunDir(directory).find_xml()
    data = parse_xml(path) if path is not None else None
    if path is None or data is None or data.eigenvalues is None:
        return {}
    kpoints = _kpoints_cartesian(path)
    if kpoints is None or len(kpoints) != data.eigenvalues.shape[1]:
        return {}
    structure = data.structure or pw_input.structure
    reciprocal = structure.lattice.reciprocal_lattice
    labels: dict[str, Any] = {
        ("\\Gamma" if label in ("G", "GAMMA", "Γ") else label): reciprocal.get_cartesian_coords(
            point[:3]
        )
        for label, point in zip(pw_input.kpoints.labels, pw_input.kpoints.points, strict=False)
        if label
    }
    eigenvalues = {Spin.up: data.eigenvalues[0].T}
    if data.eigenvalues.shape[0] == 2:
        eigenvalues[Spin.down] = data.eigenvalues[1].T
    efermi = _band_structure_efermi(data)
    band_structure = BandStructureSymmLine(
        kpoints,
        eigenvalues,
        reciprocal,
        efermi,
        labels,
        coords_are_cartesian=True,
    )
    return {"band_structure": band_structure}


def _kpoints_cartesian(xml_path: Path) -> np.ndarray | None:
    """k-points of the band-structure section in Cartesian 1/Å (with the 2π)."""
    root = ET.parse(xml_path).getroot()
    structure = root.find("output/atomic_structure")
    if structure is None or structure.get("alat") is None:
        return None
    alat = float(structure.get("alat", "nan")) * BOHR_TO_ANGSTROM
    points = [
        [float(x) for x in (node.text or "").split()]
        for node in root.findall("output/band_structure/ks_energies/k_point")
    ]
    if not points:
        return None
    return np.array(points) * 2 * np.pi / alat


def _band_structure_efermi(data: XmlData) -> float:
    """Mid-gap for insulators, so no valence state sits above E_F by rounding; E_F otherwise.

    An insulator is a non-spin-polarised cell whose electrons fill whole bands with a gap
    above the last one along the path. That holds with smearing too: cold smearing leaves a
    small-gap semiconductor's E_F at or just inside a band edge (Si at 'fast', 14³: 27 meV
    below the valence band maximum), which would make the band structure a metal.
    """
    efermi = data.efermi if data.efermi is not None else (data.homo or 0.0)
    if data.eigenvalues is None or data.nelec is None or data.eigenvalues.shape[0] != 1:
        return efermi
    filled = data.nelec / 2
    n_occupied = round(filled)
    if abs(filled - n_occupied) > 1e-6 or not 0 < n_occupied < data.eigenvalues.shape[2]:
        return efermi
    vbm = float(data.eigenvalues[..., n_occupied - 1].max())
    cbm = float(data.eigenvalues[..., n_occupied].min())
    return (vbm + cbm) / 2 if cbm > vbm else efermi
