"""The regressors a :class:`~twinkit.predict.Forecaster` fits, and their thread budget.

scikit-learn is an optional extra (``twinkit[ml]``): it is imported when a forecaster is
fitted, not when twinkit is. Its gradient-boosted trees run on OpenMP threads, which are
capped per call (see :func:`threads`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from twinkit.errors import ValidationError

__all__ = ["Method", "Regressor", "make_regressor", "threads"]


Method = Literal["boosting", "ridge"]


class Regressor(Protocol):
    """What a forecaster fits per horizon: a scikit-learn-style regressor."""

    def fit(self, x: Any, y: Any) -> Any: ...

    def predict(self, x: Any) -> Any: ...


def make_regressor(method: Method, seed: int) -> Regressor:
    """A scikit-learn regressor: gradient-boosted trees (default) or scaled ridge regression."""
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped]
        from sklearn.linear_model import Ridge  # type: ignore[import-untyped]
        from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
        from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
    except ImportError as err:
        raise ImportError("forecasting needs scikit-learn: pip install 'twinkit[ml]'") from err
    if method == "boosting":
        model: Regressor = HistGradientBoostingRegressor(
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
        return model
    if method == "ridge":
        pipeline: Regressor = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        return pipeline
    raise ValidationError(
        "unknown forecasting method",
        path="Forecaster(method=...)",
        expected="'boosting', 'ridge' or a callable returning a regressor",
        got=method,
    )


@functools.cache
def _thread_control() -> Any:
    """threadpoolctl's view of the loaded thread pools (OpenMP of scikit-learn's trees), or
    None without threadpoolctl; made once, after scikit-learn is imported."""
    with contextlib.suppress(ImportError):  # load scikit-learn's OpenMP before looking
        import sklearn.ensemble  # type: ignore[import-untyped]  # noqa: F401
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run scikit-learn's OpenMP code with at most ``count`` threads (None: its default)."""
    control = _thread_control() if count is not None else None
    if control is None:
        yield
        return
    with control.limit(limits=count, user_api="openmp"):
        yield
