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


def test_a_smeared_semiconductors_fermi_level_at_a_band_edge_is_put_mid_gap() -> None:
    """Cold smearing left Si's E_F 27 meV below its VBM (fast, 14³): still a semiconductor."""
    import numpy as np

    from htflow.qe.postprocess import _band_structure_efermi
    from htflow.qe.xml_parser import XmlData

    # two k-points, 6 bands, 8 electrons: 4 filled bands, VBM 5.9985, CBM 6.5986 eV
    bands = np.array([[[-5.8, 0.1, 4.0, 5.9985, 6.9, 8.0], [-3.0, -1.0, 3.0, 5.0, 6.5986, 7.0]]])
    smeared = XmlData(efermi=5.9718, occupations_kind="smearing", nelec=8.0, eigenvalues=bands)
    assert _band_structure_efermi(smeared) == pytest.approx((5.9985 + 6.5986) / 2)
    # a metal keeps its Fermi level: an odd electron count, or overlapping bands
    assert _band_structure_efermi(XmlData(efermi=5.0, nelec=7.0, eigenvalues=bands)) == 5.0
    overlapping = bands.copy()
    overlapping[0, 1, 4] = 5.5  # band 5 dips below band 4's maximum
    metal = XmlData(efermi=5.7, occupations_kind="smearing", nelec=8.0, eigenvalues=overlapping)
    assert _band_structure_efermi(metal) == 5.7
