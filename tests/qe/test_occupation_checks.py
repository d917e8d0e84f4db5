"""Occupation checks and the smearing fields of the task document, on recorded pw.x runs.

``smearing_in_gap`` and ``smearing_mid_gap`` are the same MgO scf with cold smearing of
0.03 and 0.02 Ry (tests/data/qe_errors/README.md): pw.x stopped its Fermi-level search at
the valence-band edge in the first and in the gap in the second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from htflow.qe.occupation_checks import (
    counted_magnetization,
    smearing_artefact,
    top_band_occupied,
)
from htflow.qe.outputs import parse_pw_output
from htflow.qe.units import RY_TO_EV

DATA = Path(__file__).resolve().parents[1] / "data" / "qe_errors"


def xml(case: str) -> Path:
    return DATA / case / "out" / "pwscf.xml"


def test_edge_root_costs_energy_the_mid_gap_root_does_not() -> None:
    wrong = parse_pw_output(DATA / "smearing_in_gap")
    right = parse_pw_output(DATA / "smearing_mid_gap")
    # pw.out: "smearing contrib. (-TS) = 0.00581565 Ry" and "-0.00000000 Ry"
    assert wrong.smearing_contribution == pytest.approx(0.00581565 * RY_TO_EV, abs=1e-6)
    assert right.smearing_contribution == pytest.approx(0.0, abs=1e-6)
    # -139.96270710 Ry against -139.96442036 Ry: the edge root is 0.0017 Ry/cell too high
    assert (wrong.energy - right.energy) / RY_TO_EV == pytest.approx(0.00171326, abs=1e-7)
    assert right.efermi is not None and right.homo is not None and right.lumo is not None
    assert right.homo < right.efermi < right.lumo
    assert wrong.efermi is not None and wrong.homo is not None
    assert wrong.efermi < wrong.homo  # 0.072 eV below the valence-band top


def test_no_smearing_contribution_without_smearing() -> None:
    assert parse_pw_output(DATA / "scf_success").smearing_contribution is None


def test_smearing_artefact_only_for_the_edge_root() -> None:
    assert smearing_artefact(xml("smearing_in_gap")) is not None
    assert smearing_artefact(xml("smearing_mid_gap")) is None
    assert smearing_artefact(xml("scf_success")) is None  # fixed occupations
    assert smearing_artefact(xml("insufficient_bands")) is None  # a metal
    assert smearing_artefact(DATA / "nope.xml") is None


def test_truncated_xml_is_no_verdict(tmp_path: Path) -> None:
    broken = tmp_path / "pwscf.xml"
    broken.write_bytes(xml("smearing_in_gap").read_bytes()[:20000])
    assert smearing_artefact(broken) is None
    assert counted_magnetization(broken) is None


def test_top_band_and_magnetization() -> None:
    assert top_band_occupied(xml("insufficient_bands"))
    assert not top_band_occupied(xml("smearing_in_gap"))
    assert not top_band_occupied(xml("scf_success"))
    assert counted_magnetization(xml("smearing_in_gap")) is None  # not spin-polarized


def test_the_checks_of_one_finished_run_read_its_xml_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from htflow.qe import xml_parser
    from htflow.qe.errors import PwError, detect_errors

    run = tmp_path / "run"
    shutil.copytree(DATA / "smearing_in_gap", run)
    reads: list[str] = []
    real_root = xml_parser._root
    monkeypatch.setattr(
        xml_parser, "_root", lambda path: reads.append(str(path)) or real_root(path)
    )
    xml_parser._shared.cache_clear()
    # the band count, smearing-artefact and ghost-state checks all look at the XML
    assert detect_errors(run) == {PwError.SMEARING_IN_GAP}
    assert len(reads) == 1
    # a rewritten file is read again, not served from the memo
    data = run / "out" / "pwscf.xml"
    data.write_text(
        data.read_text().replace("<occupations_kind>smearing", "<occupations_kind>fixed")
    )
    smearing_artefact(data)
    assert len(reads) == 2
    assert smearing_artefact(data) is None
