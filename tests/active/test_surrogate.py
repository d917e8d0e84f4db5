"""The GP surrogate: it fits a smooth function, knows where it is unsure, and a backend plugs in."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from htflow.active import surrogate as surrogate_module
from htflow.active.spec import SurrogateSpec
from htflow.active.surrogate import GPSurrogate, make_surrogate
from htflow.exceptions import InputError


def _smooth(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 0.5 * x[:, 1]


def _trained(**options: Any) -> tuple[GPSurrogate, np.ndarray]:
    grid = np.linspace(0, 3, 6)
    x = np.array([[a, b] for a in grid for b in grid])
    gp = make_surrogate(SurrogateSpec(options=options), seed=0)
    assert isinstance(gp, GPSurrogate)
    gp.fit(x, _smooth(x))
    return gp, x


def test_fits_a_smooth_function_between_the_points() -> None:
    gp, _ = _trained()
    between = np.array([[0.3, 0.9], [1.5, 1.5], [2.7, 2.1]])
    mean, std = gp.predict(between)
    np.testing.assert_allclose(mean, _smooth(between), atol=0.05)
    assert (std < 0.1).all()


def test_uncertainty_small_at_training_points_and_large_far_away() -> None:
    gp, x = _trained()
    _, at_points = gp.predict(x)
    _, far = gp.predict(np.array([[12.0, -9.0]]))
    assert at_points.max() < 0.05
    assert far[0] > 10 * at_points.max()
    assert far[0] > 0.3  # of the order of the data's spread (std of y is about 0.6)


def test_units_follow_the_data() -> None:
    """Scaling y by 1000 scales mean and σ by 1000 (the model works in the field's units)."""
    grid = np.linspace(0, 3, 8)[:, None]
    y = np.sin(grid[:, 0])
    a, b = GPSurrogate(seed=0), GPSurrogate(seed=0)
    a.fit(grid, y)
    b.fit(grid, 1000 * y)
    probe = np.array([[1.1], [5.0]])
    np.testing.assert_allclose(b.predict(probe)[0], 1000 * a.predict(probe)[0], rtol=1e-3)
    np.testing.assert_allclose(b.predict(probe)[1], 1000 * a.predict(probe)[1], rtol=1e-3)


def test_ard_gives_one_length_scale_per_feature() -> None:
    gp, _ = _trained(ard=True)
    scales = gp.hyperparameters()["parameters"]["k1__k2__length_scale"]
    assert len(scales) == 2


def test_hyperparameters_are_json_and_deterministic() -> None:
    first = _trained()[0].hyperparameters()
    second = _trained()[0].hyperparameters()
    assert json.loads(json.dumps(first)) == first
    assert first == second
    assert first["n_train"] == 36
    assert "Matern" in first["kernel"]


def test_a_fantasy_at_the_mean_keeps_means_and_shrinks_sigma() -> None:
    gp, _ = _trained()
    far = np.array([[5.0, 5.0], [5.3, 5.0], [0.2, 0.2]])
    mean, std = gp.predict(far)
    fantasised = gp.condition(far[:1], mean[:1])
    mean2, std2 = fantasised.predict(far)
    np.testing.assert_allclose(mean2, mean, atol=1e-6)
    assert std2[0] < 0.2 * std[0]  # at the fantasy
    assert std2[1] < std[1]  # near it
    assert std2[2] == pytest.approx(std[2], rel=1e-3)  # far from it
    assert gp.predict(far)[1][0] == pytest.approx(std[0])  # the original is untouched


def test_needs_two_points_and_a_fit() -> None:
    with pytest.raises(InputError, match="≥ 2"):
        GPSurrogate().fit(np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(InputError, match="not trained"):
        GPSurrogate().predict(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ard": "yes"}, "ard"),
        ({"restarts": -1}, "restarts"),
        ({"nu": 2.0}, "nu"),
        ({"lenght": 1}, "unknown gp option 'lenght'"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_surrogate(SurrogateSpec(options=options), seed=0)


class _NearestNeighbour:
    """A toy backend: the nearest training value, σ = distance to it."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.linalg.norm(np.asarray(x, float)[:, None] - self.x[None], axis=2)
        return self.y[d.argmin(axis=1)], d.min(axis=1)

    def condition(self, x: np.ndarray, y: np.ndarray) -> _NearestNeighbour:
        copy = _NearestNeighbour()
        copy.fit(np.vstack([self.x, x]), np.concatenate([self.y, y]))
        return copy

    def hyperparameters(self) -> dict[str, Any]:
        return {"backend": "nn"}


def test_another_backend_plugs_in_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        surrogate_module.SURROGATES, "nn", lambda options, seed: _NearestNeighbour()
    )
    spec = SurrogateSpec.model_construct(backend="nn", options={})
    model = make_surrogate(spec, seed=0)
    model.fit(np.array([[0.0], [1.0]]), np.array([3.0, 5.0]))
    mean, std = model.predict(np.array([[0.9]]))
    assert (mean[0], std[0]) == (5.0, pytest.approx(0.1))
    unknown = SurrogateSpec.model_construct(backend="rf", options={})
    with pytest.raises(InputError, match="unknown surrogate backend 'rf'"):
        make_surrogate(unknown, seed=0)
