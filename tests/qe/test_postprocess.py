"""Band structures from a recorded real pw.x ``bands`` run (tests/data/qe_outputs/si_bands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from htflow.qe.postprocess import band_structure_fields
from htflow.qe.pwinput import PwInput

SI_BANDS = Path(__file__).resolve().parents[1] / "data" / "qe_outputs" / "si_bands"


def test_si_band_structure_along_l_gamma_x() -> None:
    pw_input = PwInput.from_directory(SI_BANDS)
    band_structure = band_structure_fields(SI_BANDS, pw_input)["band_structure"]
    labels = [k.label for k in band_structure.kpoints if k.label]
    assert labels == ["L", "\\Gamma", "X"]
    assert band_structure.nb_bands == 8
    gap = band_structure.get_band_gap()
    # PBE silicon: indirect gap from Gamma to ~85 % of the way to X, about 0.6 eV.
    assert not gap["direct"]
    assert gap["energy"] == pytest.approx(0.6, abs=0.1)
    assert gap["transition"].startswith("\\Gamma-")
    assert not band_structure.is_metal()


def test_missing_xml_gives_no_band_structure(tmp_path: Path) -> None:
    pw_input = PwInput.from_directory(SI_BANDS)
    assert band_structure_fields(tmp_path, pw_input) == {}
