"""Band edges and gaps from Kohn-Sham eigenvalues on the run's k-points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bands within this distance of the Fermi level (eV) touch it rather than cross it: an
# insulator's valence band maximum often sits exactly at the reported Fermi level.
CROSSING_TOLERANCE = 1e-4


@dataclass(frozen=True)
class BandEdges:
    """homo, lumo and gaps (eV); None where they cannot be known."""

    homo: float | None = None
    lumo: float | None = None
    band_gap: float | None = None
    direct_gap: float | None = None
    is_gap_direct: bool | None = None
    is_metal: bool | None = None


def band_edges(
    eigenvalues: np.ndarray,
    occupations: np.ndarray,
    efermi: float | None,
    fixed_occupations: bool,
    k_weights: np.ndarray | None = None,
) -> BandEdges:
    """Band edges from eigenvalues and occupations of shape (nspin, nk, nbnd).

    Parameters
    ----------
    eigenvalues
        Kohn-Sham eigenvalues (eV).
    occupations
        Occupations per spin channel, 0..1.
    efermi
        Fermi level (eV), used to split occupied from empty states with smearing or
        tetrahedra; with fixed occupations the occupations decide.
    fixed_occupations
        True for pw.x's ``occupations='fixed'`` (an insulator by construction).
    k_weights
        k-point weights; with them, smeared runs are judged by counting electrons per spin
        channel, because cold smearing puts an insulator's Fermi level slightly *inside*
        its valence band (seen: 18 meV below the VBM of SiC with 0.37 eV of smearing).
    """
    if not fixed_occupations and k_weights is not None:
        counted = _edges_by_counting(eigenvalues, occupations, k_weights)
        if counted is not None:
            return counted
    if fixed_occupations or efermi is None:
        occupied = occupations > 0.5
    else:
        if _crosses(eigenvalues, efermi):
            return BandEdges(band_gap=0.0, is_metal=True)
        occupied = eigenvalues <= efermi + CROSSING_TOLERANCE
    return _edges_of(eigenvalues, occupied)


def _edges_of(eigenvalues: np.ndarray, occupied: np.ndarray, metal_gap: float = 0.0) -> BandEdges:
    """Edges once the occupied states are known; a gap of at most ``metal_gap`` is a metal."""
    if not occupied.any():
        return BandEdges()
    homo = float(eigenvalues[occupied].max())
    if occupied.all():
        return BandEdges(homo=homo, is_metal=False)
    lumo = float(eigenvalues[~occupied].min())
    if lumo - homo <= metal_gap:
        return BandEdges(band_gap=0.0, is_metal=True)
    direct = _direct_gap(eigenvalues, occupied)
    gap = lumo - homo
    return BandEdges(
        homo=homo,
        lumo=lumo,
        band_gap=gap,
        direct_gap=direct,
        is_gap_direct=None if direct is None else bool(direct - gap < CROSSING_TOLERANCE),
        is_metal=False,
    )


def _edges_by_counting(
    eigenvalues: np.ndarray, occupations: np.ndarray, k_weights: np.ndarray
) -> BandEdges | None:
    """Edges from the number of electrons in each spin channel; None when it is not whole."""
    weights = np.asarray(k_weights, dtype=float)
    if weights.shape != (eigenvalues.shape[1],) or not np.isfinite(weights).all():
        return None
    weights = weights / weights.sum()
    n_occupied = []
    for channel in range(eigenvalues.shape[0]):
        electrons = float((occupations[channel].sum(axis=1) * weights).sum())
        whole = round(electrons)
        if abs(electrons - whole) > 0.02:  # a fractional filling: a metal
            return BandEdges(band_gap=0.0, is_metal=True)
        if not 0 < whole < eigenvalues.shape[2]:
            return None  # no empty band computed: the LUMO is unknown
        n_occupied.append(whole)
    occupied = np.zeros(eigenvalues.shape, dtype=bool)
    for channel, n in enumerate(n_occupied):
        occupied[channel, :, :n] = True
    return _edges_of(eigenvalues, occupied, metal_gap=CROSSING_TOLERANCE)


def _crosses(eigenvalues: np.ndarray, efermi: float) -> bool:
    """True when some band has states both clearly below and clearly above efermi."""
    low = eigenvalues.min(axis=1) < efermi - CROSSING_TOLERANCE
    high = eigenvalues.max(axis=1) > efermi + CROSSING_TOLERANCE
    return bool(np.any(low & high))


def _direct_gap(eigenvalues: np.ndarray, occupied: np.ndarray) -> float | None:
    below = np.where(occupied, eigenvalues, -np.inf).max(axis=(0, 2))
    above = np.where(occupied, np.inf, eigenvalues).min(axis=(0, 2))
    gaps = above - below
    gaps = gaps[np.isfinite(gaps)]
    return float(gaps.min()) if gaps.size else None
