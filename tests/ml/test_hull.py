"""The ML hull on hand-made energies (no model)."""

from __future__ import annotations

import pytest

from htflow.exceptions import InputError
from htflow.ml.hull import MLPhase, energies_above_hull, ml_hull
from tests.ml.ml_helpers import rocksalt


def _phase(label: str, formula: str, energy: float, role: str = "candidate") -> MLPhase:
    return MLPhase.model_validate(
        {"label": label, "composition": formula, "energy_per_atom": energy, "role": role}
    )


# A-B with references at -1 and -2 eV/atom; the line between them is -1.5 at AB.
REFERENCES = [
    _phase("A", "Na", -1.0, "elemental_reference"),
    _phase("B", "Cl", -2.0, "elemental_reference"),
    _phase("B, a worse polymorph", "Cl", -1.5, "elemental_reference"),
]


def test_known_distances_and_formation_energies() -> None:
    phases = [
        *REFERENCES,
        _phase("AB", "NaCl", -2.0),  # 0.5 below the line: on the hull
        _phase("AB polymorph", "Na2Cl2", -1.8),  # 0.2 above AB
        _phase("A3B", "Na3Cl", -1.25),  # the A + AB tie line at A3B is -1.5
        _phase("AB3 known", "NaCl3", -1.0, "known_phase"),
    ]
    results = ml_hull(phases, correction="none")
    assert set(results) == {"AB", "AB polymorph", "A3B"}  # candidates only
    assert results["AB"].e_above_hull == pytest.approx(0.0)
    assert results["AB"].formation_energy_per_atom == pytest.approx(-0.5)
    assert results["AB"].decomposition == ["NaCl"]
    assert results["AB polymorph"].e_above_hull == pytest.approx(0.2)
    assert results["AB polymorph"].formation_energy_per_atom == pytest.approx(-0.3)
    assert results["A3B"].e_above_hull == pytest.approx(0.25)
    assert results["A3B"].decomposition == ["Na", "NaCl"]
    assert results["A3B"].energy_correction_per_atom == 0.0
    assert energies_above_hull(phases, correction="none") == pytest.approx(
        {"AB": 0.0, "AB polymorph": 0.2, "A3B": 0.25}
    )


def test_mp2020_corrections_apply_to_compounds_not_elements() -> None:
    """SevenNet's raw GGA/GGA+U energies need them (CHGNet's already carry them)."""
    phases = [
        _phase("Fe", "Fe", -8.3, "elemental_reference"),
        _phase("O", "O", -4.9, "elemental_reference"),
        _phase("Na", "Na", -1.3, "elemental_reference"),
        _phase("Cl", "Cl", -1.85, "elemental_reference"),
        _phase("Fe2O3", "Fe2O3", -6.9),
        _phase("NaCl", "NaCl", -3.4),
    ]
    raw = ml_hull(phases)
    corrected = ml_hull(phases, correction="mp2020")
    # Oxide anion and GGA/GGA+U mixing corrections for Fe2O3 (Fe has U with O), the
    # chloride correction for NaCl: both lower the formation energy.
    for label in ("Fe2O3", "NaCl"):
        shift = corrected[label].energy_correction_per_atom
        assert shift < 0
        assert corrected[label].formation_energy_per_atom == pytest.approx(
            raw[label].formation_energy_per_atom + shift
        )
    assert (
        corrected["Fe2O3"].energy_correction_per_atom < corrected["NaCl"].energy_correction_per_atom
    )


def test_structure_gives_the_composition() -> None:
    phases = [
        *REFERENCES,
        MLPhase(
            label="AB",
            composition="NaCl",
            energy_per_atom=-2.0,
            role="candidate",
            structure=rocksalt("Na", "Cl", 5.64),
        ),
    ]
    assert ml_hull(phases, correction="none")["AB"].formula == "NaCl"


def test_missing_reference_names_the_element() -> None:
    phases = [_phase("A", "Na", -1.0, "elemental_reference"), _phase("AB", "NaCl", -2.0)]
    with pytest.raises(InputError) as err:
        ml_hull(phases)
    assert str(err.value).startswith("no elemental reference for Cl in the ML hull")
    assert "\n" not in str(err.value)


def test_bad_phases_are_refused() -> None:
    with pytest.raises(InputError, match="unique labels; repeated: AB"):
        ml_hull([*REFERENCES, _phase("AB", "NaCl", -2.0), _phase("AB", "NaCl", -1.0)])
    with pytest.raises(InputError, match="elemental reference 'X' is NaCl, not one element"):
        ml_hull([*REFERENCES, _phase("X", "NaCl", -2.0, "elemental_reference")])
    with pytest.raises(InputError, match="non-finite energy"):
        ml_hull([*REFERENCES, _phase("AB", "NaCl", float("nan"))])
    with pytest.raises(ValueError, match="not a chemical formula"):
        _phase("AB", "Xq2", -1.0)
