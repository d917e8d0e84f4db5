"""dos.x / projwfc.x: namelist rendering and parsing of the recorded Si nscf run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.electronic_structure.core import OrbitalType, Spin

from htflow.qe.dos import (
    dos_input,
    parse_dos,
    parse_integrated_dos,
    parse_projwfc,
    projwfc_input,
)
from htflow.qe.outputs import parse_last_structure

RUN = Path(__file__).resolve().parents[1] / "data" / "qe_outputs" / "si_nscf_dos"


def test_dos_input_renders_the_namelist():
    text = dos_input(emin=-8.0, emax=12.0, delta_e=0.05, degauss=0.01)
    assert text.startswith("&DOS\n") and text.endswith("/\n")
    assert "outdir = 'out'" in text and "prefix = 'pwscf'" in text
    assert "fildos = 'pwscf.dos'" in text and "Emin = -8.0" in text and "degauss = 0.01" in text
    assert "Emin" not in dos_input() and "degauss" not in dos_input()


def test_projwfc_input_renders_the_namelist():
    text = projwfc_input(delta_e=0.02)
    assert text.startswith("&PROJWFC\n") and "filpdos = 'pwscf'" in text
    assert "DeltaE = 0.02" in text


def test_dos_integrates_to_the_electron_count():
    dos = parse_dos(RUN)
    assert dos is not None
    assert dos.efermi == pytest.approx(6.421, abs=1e-3)
    assert dos.energies[0] == pytest.approx(-8.0)
    energies, density = dos.energies, dos.densities[Spin.up]
    occupied = energies <= dos.efermi
    # Si2 has 8 valence electrons; the DOS counts both spins (nspin=1).
    assert np.trapezoid(density[occupied], energies[occupied]) == pytest.approx(8.0, abs=0.1)
    integrated = parse_integrated_dos(RUN)
    assert np.interp(dos.efermi, integrated.energies, integrated.densities[Spin.up]) == (
        pytest.approx(8.0, abs=1e-3)
    )
    assert 0.5 < dos.get_gap() < 0.75


def test_projwfc_gives_s_and_p_per_site():
    structure = parse_last_structure(RUN)
    complete = parse_projwfc(RUN, structure)
    assert complete is not None
    spd = complete.get_spd_dos()
    assert set(spd) == {OrbitalType.s, OrbitalType.p}
    below = complete.energies <= complete.efermi
    s = np.trapezoid(spd[OrbitalType.s].densities[Spin.up][below], complete.energies[below])
    p = np.trapezoid(spd[OrbitalType.p].densities[Spin.up][below], complete.energies[below])
    # Projections onto atomic s and p hold nearly all of the 8 electrons (spilling < 5%).
    assert 7.5 < s + p <= 8.1 and s > 2 and p > 4
    assert len(complete.pdos) == 2
    assert complete.get_site_spd_dos(structure[0])[OrbitalType.p] is not None


def test_missing_files_return_none(tmp_path):
    assert parse_dos(tmp_path) is None
    assert parse_integrated_dos(tmp_path) is None
    assert parse_projwfc(tmp_path, parse_last_structure(RUN)) is None
    (tmp_path / "pwscf.dos").write_text("#  E (eV)   dos(E)     Int dos(E) EFermi = 1.0 eV\n")
    assert parse_dos(tmp_path) is None


def test_task_doc_carries_the_dos_through_json():
    from htflow.qe.outputs import build_task_doc
    from htflow.qe.schemas import PwTaskDoc

    complete = parse_projwfc(RUN, parse_last_structure(RUN))
    doc = build_task_doc(RUN, dos=complete)
    assert isinstance(doc.dos, type(complete))
    restored = PwTaskDoc.model_validate_json(doc.model_dump_json())
    assert type(restored.dos) is type(complete)
    assert np.allclose(restored.dos.densities[Spin.up], complete.densities[Spin.up])
