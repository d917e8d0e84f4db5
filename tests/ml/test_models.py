"""Model names, the ml extra check, and loading the real models."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from ase.build import bulk

from htflow.exceptions import InputError
from htflow.ml import models
from htflow.ml.models import MODEL_NAMES, check_model, load_calculator, require_ml_extra
from htflow.settings import settings_env


def test_known_models() -> None:
    assert MODEL_NAMES == ("chgnet", "sevenn")
    assert models.DEFAULT_MODEL == "chgnet"
    assert check_model("sevenn") == "sevenn"


def test_unknown_model_is_one_line() -> None:
    with pytest.raises(InputError) as err:
        check_model("mace")
    assert str(err.value) == "unknown ML model 'mace': choose chgnet or sevenn"
    with pytest.raises(InputError, match="unknown ML model 'x'"):
        require_ml_extra("x")


@pytest.mark.parametrize(
    ("absent", "named"),
    [({"torch"}, "torch"), ({"chgnet"}, "chgnet"), ({"torch", "chgnet"}, "torch and chgnet")],
)
def test_missing_extra_names_the_packages_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, absent: set[str], named: str
) -> None:
    real = models.find_spec
    monkeypatch.setattr(models, "find_spec", lambda m: None if m in absent else real(m))
    with pytest.raises(InputError) as err:
        require_ml_extra("chgnet")
    message = str(err.value)
    assert "\n" not in message
    assert f"needs {named}" in message
    assert "pip install 'htflow[ml]'" in message
    assert "torch==2.13.0" in message


def test_extra_check_does_not_import_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up = []
    monkeypatch.setattr(models, "find_spec", lambda m: looked_up.append(m) or object())
    require_ml_extra("sevenn")
    assert looked_up == ["torch", "sevenn"]


def test_planning_imports_no_model_package() -> None:
    code = (
        "import sys; import htflow.ml.screen, htflow.ml.references; "
        "from htflow.ml.relax import MLRelaxMaker; from htflow.ml.models import require_ml_extra; "
        "require_ml_extra('chgnet'); MLRelaxMaker(model='sevenn'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'chgnet', 'sevenn'}))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.ml
def test_chgnet_loads_once_and_names_its_weights() -> None:
    import torch

    with settings_env(ml_threads=1):
        calculator, version = load_calculator("chgnet")
        again, _ = load_calculator("chgnet")
        assert torch.get_num_threads() == 1
    assert again is calculator
    assert version.startswith("chgnet 0.4.2")
    assert "CHGNet 0.3.0 weights" in version


@pytest.mark.ml
def test_sevenn_gives_an_energy() -> None:
    calculator, version = load_calculator("sevenn")
    atoms = bulk("Al", "fcc", a=4.05)
    atoms.calc = calculator
    energy = atoms.get_potential_energy()
    assert math.isfinite(energy)
    assert -5.0 < energy < -2.0  # eV for one Al atom, on the MP energy scale
    assert version == "sevenn 0.13.0, 7net-0"
