"""K-point sampling from a reciprocal-space spacing: Monkhorst-Pack meshes and band paths."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from htflow.exceptions import InputError
from htflow.qe.pwinput import KPoints

if TYPE_CHECKING:
    from pymatgen.core import Structure


def mesh_from_spacing(structure: Structure, spacing: float) -> KPoints:
    """Gamma-centred mesh with ``mesh_i = max(1, ceil(|b_i| / spacing))``.

    Parameters
    ----------
    structure
        The cell; ``|b_i|`` are its reciprocal lattice vector lengths including 2π (1/Å).
    spacing
        Maximum distance between k-points (1/Å, including 2π).
    """
    if spacing <= 0:
        raise InputError(f"k-point spacing must be positive (got {spacing} 1/Å)")
    lengths = structure.lattice.reciprocal_lattice.abc
    # round first: |b|/spacing landing on an integer must not become integer + 1 by noise
    mesh = tuple(max(1, math.ceil(round(length / spacing, 6))) for length in lengths)
    return KPoints(mode="automatic", mesh=(mesh[0], mesh[1], mesh[2]), shift=(0, 0, 0))


def band_path(structure: Structure, spacing: float) -> KPoints:
    """High-symmetry path (crystal_b) in ``structure``'s own reciprocal basis.

    Uses the Setyawan-Curtarolo path when the standard primitive cell is ``structure``'s cell
    up to an integer change of basis (same orientation), otherwise the Latimer-Munro path,
    which pymatgen builds on the input cell itself. Each segment gets
    ``ceil(length / spacing)`` points; a jump between disconnected branches gets 1.
    """
    if spacing <= 0:
        raise InputError(f"band-path spacing must be positive (got {spacing} 1/Å)")
    from pymatgen.symmetry.bandstructure import HighSymmKpath

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on non-standard cells; handled below
        kpath = HighSymmKpath(structure, path_type="setyawan_curtarolo")
        if not _same_orientation(structure, kpath.prim.lattice.matrix):
            kpath = HighSymmKpath(structure, path_type="latimer_munro")
    source = kpath.prim_rec
    target = structure.lattice.reciprocal_lattice
    points: list[tuple[float, float, float, float]] = []
    labels: list[str | None] = []
    for branch in kpath.kpath["path"]:
        carts = [source.get_cartesian_coords(kpath.kpath["kpoints"][label]) for label in branch]
        for n, (label, cart) in enumerate(zip(branch, carts, strict=True)):
            if n + 1 < len(branch):
                length = float(np.linalg.norm(carts[n + 1] - cart))
                count = max(1, math.ceil(round(length / spacing, 6)))
            else:
                count = 1
            frac = target.get_fractional_coords(cart)
            frac = np.where(np.abs(frac) < 1e-10, 0.0, frac)
            points.append((float(frac[0]), float(frac[1]), float(frac[2]), float(count)))
            labels.append(_label(label))
    return KPoints(mode="crystal_b", points=points, labels=labels)


def _same_orientation(structure: Structure, prim_matrix: np.ndarray) -> bool:
    # prim = M @ input with M integer (or 1/n-rational for a supercell input) only when
    # the standard cell was not rotated; a rotation makes M non-rational
    transform = prim_matrix @ np.linalg.inv(structure.lattice.matrix)
    scaled = transform * len(structure)
    return bool(np.allclose(scaled, np.round(scaled), atol=1e-4))


def _label(label: str) -> str:
    return "G" if label in ("\\Gamma", "Γ", "GAMMA") else label.replace("\\", "").replace("_", "")
