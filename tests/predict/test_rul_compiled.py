"""Compiled ensemble members answer exactly what scikit-learn's own ``predict`` answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from twinkit.errors import ValidationError
from twinkit.predict._rul_compiled import compile_regressor


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 12))
    y = 3 * x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + rng.normal(scale=0.1, size=800)
    return x, y, rng.normal(size=(200, 12)) * 1.5  # beyond the training range too


@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingRegressor(max_iter=60, random_state=0),
        ExtraTreesRegressor(n_estimators=15, min_samples_leaf=3, random_state=0),
        RandomForestRegressor(n_estimators=10, random_state=0),
        make_pipeline(StandardScaler(), Ridge(alpha=2.0)),
    ],
    ids=["boosting", "extra-trees", "random-forest", "ridge"],
)
def test_compiled_equals_scikit_learn(data: tuple, model: object) -> None:
    x, y, test = data
    model.fit(x, y)  # type: ignore[attr-defined]
    compiled = compile_regressor(model)
    expected = model.predict(test)  # type: ignore[attr-defined]
    assert np.allclose(compiled.predict(test), expected, rtol=0, atol=1e-9)
    one_by_one = [compiled.predict_one(row) for row in test[:40]]
    assert np.allclose(one_by_one, expected[:40], rtol=0, atol=1e-9)


def test_float32_thresholds_of_forests_are_honoured() -> None:
    """Forests compare float32 features: a value between a threshold and its float32 rounding
    must go where scikit-learn sends it."""
    x = np.array([[0.0], [0.1], [0.2], [0.3]])
    model = RandomForestRegressor(n_estimators=1, bootstrap=False, random_state=0).fit(
        x, [0.0, 0.0, 1.0, 1.0]
    )
    threshold = model.estimators_[0].tree_.threshold[0]
    probes = np.array([[threshold], [np.nextafter(threshold, 1)], [np.nextafter(threshold, -1)]])
    compiled = compile_regressor(model)
    assert np.array_equal(compiled.predict(probes), model.predict(probes))


def test_unsupported_models_are_refused(data: tuple) -> None:
    x, y, _ = data
    with pytest.raises(ValidationError, match="cannot be compiled") as caught:
        compile_regressor(KNeighborsRegressor().fit(x, y))
    assert caught.value.got == "KNeighborsRegressor"
