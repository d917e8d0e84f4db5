"""The surrogate model behind the active loop: a small interface and its backends.

A backend models the raw objective values, so its means and standard deviations are in the
objective field's units. ``SURROGATES`` maps a backend name (``surrogate.backend`` of the
spec) to its factory; another model plugs in by adding an entry.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.preprocessing import StandardScaler

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from htflow.active.spec import SurrogateSpec


class Surrogate(Protocol):
    """What the acquisition needs from a model of the objective."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Train on features x (n, d) and objective values y (n,), field units."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (field units) at features x (m, d)."""

    def condition(self, x: np.ndarray, y: np.ndarray) -> Surrogate:
        """A copy that also knows (x, y), hyperparameters kept: a fantasy observation."""

    def hyperparameters(self) -> dict[str, Any]:
        """The fitted model's settings, JSON-serialisable, for the round's record."""


GP_OPTIONS = {"ard", "restarts", "nu"}


class GPSurrogate:
    """scikit-learn Gaussian process on standardised features.

    Kernel: ConstantKernel × Matérn(ν) + WhiteKernel, with one length scale per feature when
    ``ard`` (else one for all); the marginal likelihood is maximised from the default start
    and ``restarts`` random starts drawn with ``seed``. Targets are standardised as
    ``normalize_y=True`` would, but here, so that :meth:`condition` keeps the fit's shift and
    scale: fantasies then move neither the predicted means nor the amplitude.
    """

    def __init__(self, seed: int = 0, ard: bool = False, restarts: int = 3, nu: float = 2.5):
        self.seed = seed
        self.ard = ard
        self.restarts = restarts
        self.nu = nu
        self._scaler: StandardScaler | None = None
        self._gp: GaussianProcessRegressor | None = None
        self._x = np.empty((0, 0))
        self._y = np.empty(0)
        self._y_shift, self._y_scale = 0.0, 1.0
        self._warnings: list[str] = []

    def _kernel(self, n_features: int) -> Any:
        # standardised features: typical distances grow as √d, so start the length scale there
        start = math.sqrt(n_features)
        length_scale: float | np.ndarray = np.full(n_features, start) if self.ard else start
        return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=length_scale, length_scale_bounds=(1e-2, 1e4), nu=self.nu
        ) + WhiteKernel(1e-2, (1e-6, 1.0))

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit scaler and GP hyperparameters on x (n, d) and y (n,); needs n ≥ 2."""
        features = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(y) < 2 or features.shape[0] != len(y):
            raise InputError(f"the GP needs ≥ 2 matching observations, got {len(y)}: observe more")
        self._scaler = StandardScaler().fit(features)
        spread = float(np.std(y))
        self._y_shift, self._y_scale = float(np.mean(y)), spread if spread > 0 else 1.0
        gp = GaussianProcessRegressor(
            kernel=self._kernel(features.shape[1]),
            n_restarts_optimizer=self.restarts,
            random_state=self.seed,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            gp.fit(self._scaler.transform(features), self._standard(y))
        self._warnings = sorted({str(w.message).splitlines()[0] for w in caught})
        self._gp, self._x, self._y = gp, features, y

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (field units) at x (m, d)."""
        if self._gp is None or self._scaler is None:
            raise InputError("the surrogate is not trained: call fit first")
        mean, std = self._gp.predict(self._scaler.transform(np.asarray(x, float)), return_std=True)
        mean = np.asarray(mean, float) * self._y_scale + self._y_shift
        return mean, np.maximum(np.asarray(std, float), 0.0) * self._y_scale

    def _standard(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, float) - self._y_shift) / self._y_scale

    def condition(self, x: np.ndarray, y: np.ndarray) -> GPSurrogate:
        """A copy trained on the old data plus (x, y), with this fit's kernel and scaler."""
        if self._gp is None:
            raise InputError("the surrogate is not trained: call fit first")
        copy = GPSurrogate(self.seed, self.ard, self.restarts, self.nu)
        copy._scaler = self._scaler
        copy._y_shift, copy._y_scale = self._y_shift, self._y_scale
        copy._x = np.vstack([self._x, np.asarray(x, float)])
        copy._y = np.concatenate([self._y, np.asarray(y, float)])
        gp = GaussianProcessRegressor(
            kernel=self._gp.kernel_, optimizer=None, random_state=self.seed
        )
        assert copy._scaler is not None
        copy._gp = gp.fit(copy._scaler.transform(copy._x), copy._standard(copy._y))
        return copy

    def hyperparameters(self) -> dict[str, Any]:
        """Kernel, its fitted parameters, the log marginal likelihood and fit warnings."""
        if self._gp is None:
            return {}
        kernel = self._gp.kernel_
        params = {
            name: _plain(value)
            for name, value in kernel.get_params().items()
            if not hasattr(value, "get_params") and not name.endswith("_bounds")
        }
        return {
            "backend": "gp",
            "kernel": str(kernel),
            "parameters": params,
            "log_marginal_likelihood": float(self._gp.log_marginal_likelihood_value_),
            "n_train": len(self._y),
            "y_shift": self._y_shift,
            "y_scale": self._y_scale,
            "ard": self.ard,
            "restarts": self.restarts,
            "nu": self.nu,
            "seed": self.seed,
            "warnings": self._warnings,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [float(v) for v in value.ravel()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _gp(options: dict[str, Any], seed: int) -> Surrogate:
    unknown = set(options) - GP_OPTIONS
    if unknown:
        raise InputError(
            f"unknown gp option {sorted(unknown)[0]!r}: use {', '.join(sorted(GP_OPTIONS))}"
        )
    ard = options.get("ard", False)
    restarts = options.get("restarts", 3)
    nu = options.get("nu", 2.5)
    if not isinstance(ard, bool):
        raise InputError(f"gp option ard is {ard!r}: give true or false")
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 0:
        raise InputError(f"gp option restarts is {restarts!r}: give a count ≥ 0")
    if nu not in (0.5, 1.5, 2.5, math.inf):
        raise InputError(f"gp option nu is {nu!r}: use 0.5, 1.5, 2.5 or .inf")
    return GPSurrogate(seed=seed, ard=ard, restarts=restarts, nu=float(nu))


SURROGATES: dict[str, Callable[[dict[str, Any], int], Surrogate]] = {"gp": _gp}


def make_surrogate(spec: SurrogateSpec, seed: int) -> Surrogate:
    """A fresh, untrained surrogate of ``spec.backend`` with ``spec.options``.

    Raises
    ------
    InputError
        Unknown backend or option.
    """
    factory = SURROGATES.get(spec.backend)
    if factory is None:
        raise InputError(
            f"unknown surrogate backend {spec.backend!r}: use one of {', '.join(SURROGATES)}"
        )
    return factory(dict(spec.options), seed)
