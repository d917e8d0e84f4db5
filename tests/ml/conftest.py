"""Fixtures for the ML layer: settings isolated from the user's, and real CHGNet relaxations
shared by the tests that need them (each relaxation runs once per session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from htflow.ml.references import elemental_reference_structures
from htflow.ml.relax import ml_relax
from tests.ml.ml_helpers import diamond, fcc, rocksalt

if TYPE_CHECKING:
    from htflow.ml.relax import MLRelaxDoc


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", "/nonexistent/htflow.yaml")
    monkeypatch.delenv("HTFLOW_ML_THREADS", raising=False)


@pytest.fixture(scope="session")
def chgnet_relaxed() -> dict[str, MLRelaxDoc]:
    """CHGNet relaxations of Na, Cl and Si references and of NaCl and two Si polymorphs."""
    references = elemental_reference_structures(["Na", "Cl", "Si"])
    structures = {
        "Na": references["Na"],
        "Cl": references["Cl"],
        "Si": references["Si"],
        "NaCl-rocksalt": rocksalt("Na", "Cl", 5.64),
        "Si-diamond": diamond("Si", 5.43),
        "Si-fcc": fcc("Si", 3.85),
    }
    return {name: ml_relax(s, model="chgnet") for name, s in structures.items()}
