"""ML relaxation with the real CHGNet model, and how a blow-up is reported."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from monty.json import jsanitize

from htflow.exceptions import InputError
from htflow.ml import relax
from htflow.ml.relax import MLRelaxDoc, MLRelaxMaker, ml_relax
from tests.ml.ml_helpers import fcc, rocksalt


@pytest.mark.ml
def test_compressed_aluminium_relaxes_to_a_sane_lattice() -> None:
    start = fcc("Al", 4.05 * 0.95)
    unrelaxed = ml_relax(start, max_steps=0)
    doc = ml_relax(start)
    assert doc.converged and doc.failure is None
    assert doc.energy is not None and unrelaxed.energy is not None
    assert doc.energy < unrelaxed.energy
    assert doc.max_force is not None and doc.max_force <= 0.05
    # The compressed cell expands back to near Al's 16.6 Å³/atom and stays fcc.
    assert start.volume < doc.structure.volume
    assert doc.structure.volume == pytest.approx(16.6, rel=0.06)
    assert doc.structure.lattice.angles == pytest.approx((60, 60, 60), abs=0.5)
    assert doc.formula == "Al"
    assert doc.protocol == {
        "optimizer": "FIRE",
        "cell_filter": "FrechetCellFilter",
        "fmax": 0.05,
        "max_steps": 500,
        "relax_cell": True,
        "reference": "Matbench Discovery",
    }


@pytest.mark.ml
def test_rattled_compressed_rock_salt_relaxes_and_round_trips() -> None:
    start = rocksalt("Na", "Cl", 5.64 * 0.95)
    start.perturb(0.05, min_distance=0.02)
    doc = ml_relax(start)
    assert doc.converged
    assert doc.energy_per_atom is not None
    assert doc.energy_per_atom == pytest.approx(doc.energy / 2)  # type: ignore[operator]
    assert doc.structure.volume > start.volume
    assert doc.structure.volume / 2 == pytest.approx(5.64**3 / 8, rel=0.1)
    stored = jsanitize(doc, strict=True, allow_bson=True, enum_values=True)
    assert MLRelaxDoc.model_validate(stored) == doc


class _Broken(Calculator):
    """A model that goes wrong: NaN energies, a runaway tensile stress, or an exception."""

    implemented_properties: ClassVar[list[str]] = ["energy", "forces", "stress"]

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        if self.mode == "raise":
            raise RuntimeError("graph has isolated atoms\n(more detail)")
        energy = math.nan if self.mode == "nan" else -1.0
        # A constant negative stress: the energy falls without bound as the cell grows.
        stress = np.array([-0.5, -0.5, -0.5, 0, 0, 0]) if self.mode == "explode" else np.zeros(6)
        self.results = {"energy": energy, "forces": np.zeros((n, 3)), "stress": stress}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("nan", "non-finite energy or force at step 0"),
        ("explode", "the volume went to"),
        ("raise", "the model failed at step 0: graph has isolated atoms (more detail)"),
    ],
)
def test_a_blow_up_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, mode: str, reason: str
) -> None:
    monkeypatch.setattr(relax, "load_calculator", lambda name: (_Broken(mode), "broken 0"))
    start = fcc("Al", 4.05)
    doc = ml_relax(start)
    assert not doc.converged
    assert doc.failure is not None and reason in doc.failure
    assert "\n" not in doc.failure
    if mode == "explode":  # the last sane step is kept, within the allowed volume range
        assert doc.energy == -1.0
        assert 1 < doc.structure.volume / start.volume <= relax.MAX_VOLUME_RATIO
    else:
        assert doc.energy is None and doc.structure == start
    MLRelaxDoc.model_validate(jsanitize(doc, strict=True, allow_bson=True))


def test_bad_protocol_is_one_line() -> None:
    with pytest.raises(InputError, match="unknown ML model 'mace'"):
        MLRelaxMaker(model="mace")
    with pytest.raises(InputError, match="fmax must be a positive number"):
        MLRelaxMaker(fmax=0)
    with pytest.raises(InputError, match="max_steps must be a whole number"):
        ml_relax(fcc("Al", 4.05), max_steps=-1)


def test_maker_defaults_are_matbench_discoverys() -> None:
    maker = MLRelaxMaker()
    assert (maker.name, maker.model, maker.fmax, maker.max_steps, maker.relax_cell) == (
        "ml relax",
        "chgnet",
        0.05,
        500,
        True,
    )
    job = maker.make(fcc("Al", 4.05))
    assert job.name == "ml relax"
