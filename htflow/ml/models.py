"""The universal ML potentials the funnel can use, and loading them as ASE calculators.

Both wheels carry their weights (CHGNet 0.3.0 in ``chgnet``, SevenNet-0 in ``sevenn``), so
nothing downloads at run time. Checking for the packages is cheap and imports nothing
heavy: the planner calls :func:`require_ml_extra` before it plans a funnel.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache
from importlib.util import find_spec
from typing import TYPE_CHECKING, Literal

from htflow.exceptions import InputError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ase.calculators.calculator import Calculator

MODEL_NAMES = ("chgnet", "sevenn")
DEFAULT_MODEL = "chgnet"
# The package each model needs beside torch.
_MODEL_PACKAGES = {"chgnet": "chgnet", "sevenn": "sevenn"}
# The weights each model loads; both ship inside their wheel.
MODEL_WEIGHTS = {"chgnet": "0.3.0", "sevenn": "7net-0"}
# The energy scale each model learned from MPtrj, hence what its hull needs: CHGNet 0.3.0
# predicts MP2020-corrected energies, SevenNet-0 the raw GGA/GGA+U ones, which need MP2020's
# corrections (htflow.ml.hull). Measured on relaxed MgO, NaCl, ZnS and NiO: CHGNet − SevenNet
# = −0.34, −0.28, −0.22, −1.55 eV/atom against MP2020 corrections of −0.34, −0.31, −0.25,
# −1.61 eV/atom (and +0.06 for Al, which has none).
MODEL_ENERGY_CORRECTION: dict[str, Literal["mp2020", "none"]] = {
    "chgnet": "none",
    "sevenn": "mp2020",
}


def check_model(name: str) -> str:
    """Return ``name`` if it is a known ML model, else raise a one-line InputError."""
    if name not in MODEL_NAMES:
        raise InputError(f"unknown ML model {name!r}: choose {' or '.join(MODEL_NAMES)}")
    return name


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_ml_extra(name: str) -> None:
    """Raise a one-line InputError when the packages model ``name`` needs are missing.

    Looks the packages up without importing them, so it is cheap enough for planning.
    """
    check_model(name)
    missing = [m for m in ("torch", _MODEL_PACKAGES[name]) if not _importable(m)]
    if missing:
        raise InputError(
            f"ML model {name!r} needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: "
            "pip install 'htflow[ml]' (it pins torch==2.13.0, the CPU build)"
        )


@contextlib.contextmanager
def quiet_model(*, prints: bool = False) -> Iterator[None]:
    """Silence the warnings the model packages emit on every call (CHGNet's tensor-to-scalar
    warning, SevenNet's missing accelerator) and, with ``prints``, their prints on load."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        for category in (UserWarning, FutureWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        if prints:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        yield


def load_calculator(name: str) -> tuple[Calculator, str]:
    """An ASE calculator for model ``name`` on the CPU, and its version string.

    The model is loaded once per process. torch uses ``ml_threads`` threads (a setting,
    read at each call).

    Returns
    -------
    The calculator and e.g. ``"chgnet 0.4.2, CHGNet 0.3.0 weights"``.
    """
    require_ml_extra(name)
    import torch

    torch.set_num_threads(get_settings().ml_threads)
    calculator, version = _load(name)
    calculator.reset()
    return calculator, version


@cache
def _load(name: str) -> tuple[Calculator, str]:
    with quiet_model(prints=True):
        return _LOADERS[name]()


def _load_chgnet() -> tuple[Calculator, str]:
    import chgnet
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(model_name=MODEL_WEIGHTS["chgnet"], use_device="cpu", verbose=False)
    calculator = CHGNetCalculator(model=model, use_device="cpu")
    return calculator, f"chgnet {chgnet.__version__}, CHGNet {model.version} weights"


def _load_sevenn() -> tuple[Calculator, str]:
    import sevenn
    from sevenn.calculator import SevenNetCalculator

    calculator = SevenNetCalculator(MODEL_WEIGHTS["sevenn"], device="cpu")
    return calculator, f"sevenn {sevenn.__version__}, {MODEL_WEIGHTS['sevenn']}"


_LOADERS = {"chgnet": _load_chgnet, "sevenn": _load_sevenn}
