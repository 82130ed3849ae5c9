"""Fitted scikit-learn regressors turned into flat numpy arrays for one-row predictions.

scikit-learn's ``predict`` costs tens of microseconds to milliseconds per call before any tree
is walked (input validation, thread pools: a random forest dispatches to joblib). A live twin
asks for one row at a time, so the fitted members are compiled once into arrays and walked here:
all trees of a member step down one level together, in a fixed number of vectorised steps (the
deepest tree's depth; a leaf points to itself). Results equal scikit-learn's own to rounding
(:func:`compile_regressor` is checked against ``predict`` in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError

__all__ = ["CompiledLinear", "CompiledMember", "CompiledTrees", "compile_regressor"]

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]


class CompiledMember(Protocol):
    """One ensemble member, ready for single rows."""

    def predict_one(self, features: Array) -> float: ...


@dataclass(frozen=True, slots=True)
class CompiledTrees:
    """A sum (``scale`` = 1) or mean (``scale`` = 1 / trees) of regression trees, plus ``base``.

    Node arrays hold every tree back to back; ``roots`` are the first node of each tree.
    ``single`` compares features as float32, as scikit-learn's forests do.
    """

    roots: Index
    feature: Index
    threshold: Array
    left: Index
    right: Index
    value: Array
    depth: int
    base: float
    scale: float
    single: bool

    def predict_one(self, features: Array) -> float:
        x = features.astype(np.float32).astype(np.float64) if self.single else features
        node = self.roots
        feature, threshold, left, right = self.feature, self.threshold, self.left, self.right
        for _ in range(self.depth):
            node = np.where(x[feature[node]] <= threshold[node], left[node], right[node])
        return self.base + self.scale * float(self.value[node].sum())

    def predict(self, rows: Array) -> Array:
        """Many rows at once (tests and offline checks)."""
        x = rows.astype(np.float32).astype(np.float64) if self.single else rows
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        line = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            go_left = x[line, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        result: Array = self.base + self.scale * self.value[node].sum(axis=1)
        return result


@dataclass(frozen=True, slots=True)
class CompiledLinear:
    """``intercept + coef · ((x - mean) / scale)``: a linear model behind its standardisation."""

    mean: Array
    scale: Array
    coef: Array
    intercept: float

    def predict_one(self, features: Array) -> float:
        return self.intercept + float(self.coef @ ((features - self.mean) / self.scale))

    def predict(self, rows: Array) -> Array:
        result: Array = self.intercept + ((rows - self.mean) / self.scale) @ self.coef
        return result


def _stack(
    trees: list[tuple[Index, Array, Index, Index, Array, int]],
    base: float,
    scale: float,
    single: bool,
) -> CompiledTrees:
    """Trees as (feature, threshold, left, right, value, depth) with leaves pointing to
    themselves, concatenated with their node indices shifted."""
    offsets = np.cumsum([0] + [len(tree[0]) for tree in trees[:-1]])
    return CompiledTrees(
        roots=np.asarray(offsets, dtype=np.intp),
        feature=np.concatenate([tree[0] for tree in trees]),
        threshold=np.concatenate([tree[1] for tree in trees]),
        left=np.concatenate(
            [tree[2] + offset for tree, offset in zip(trees, offsets, strict=True)]
        ),
        right=np.concatenate(
            [tree[3] + offset for tree, offset in zip(trees, offsets, strict=True)]
        ),
        value=np.concatenate([tree[4] for tree in trees]),
        depth=max(tree[5] for tree in trees),
        base=base,
        scale=scale,
        single=single,
    )


def _hist_gradient_boosting(model: Any) -> CompiledTrees:
    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        own = np.arange(len(nodes), dtype=np.intp)
        leaf = nodes["is_leaf"].astype(bool)
        if nodes["is_categorical"].any():
            raise ValidationError(
                "categorical splits cannot be compiled",
                path="rul model",
                expected="numerical features only",
                got="a categorical split",
            )
        trees.append(
            (
                np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp),
                np.where(leaf, np.inf, nodes["num_threshold"]).astype(np.float64),
                np.where(leaf, own, nodes["left"]).astype(np.intp),
                np.where(leaf, own, nodes["right"]).astype(np.intp),
                np.where(leaf, nodes["value"], 0.0).astype(np.float64),
                int(predictor.get_max_depth()),
            )
        )
    return _stack(trees, float(np.ravel(model._baseline_prediction)[0]), 1.0, single=False)


def _forest(model: Any) -> CompiledTrees:
    trees = []
    for estimator in model.estimators_:
        tree = estimator.tree_
        own = np.arange(tree.node_count, dtype=np.intp)
        leaf = tree.children_left < 0
        trees.append(
            (
                np.where(leaf, 0, tree.feature).astype(np.intp),
                np.where(leaf, np.inf, tree.threshold).astype(np.float64),
                np.where(leaf, own, tree.children_left).astype(np.intp),
                np.where(leaf, own, tree.children_right).astype(np.intp),
                np.where(leaf, tree.value[:, 0, 0], 0.0).astype(np.float64),
                int(tree.max_depth),
            )
        )
    return _stack(trees, 0.0, 1.0 / len(trees), single=True)


def _linear(model: Any) -> CompiledLinear:
    scaler, regressor = model.steps[0][1], model.steps[-1][1]
    return CompiledLinear(
        np.asarray(scaler.mean_, dtype=np.float64),
        np.asarray(scaler.scale_, dtype=np.float64),
        np.asarray(regressor.coef_, dtype=np.float64),
        float(regressor.intercept_),
    )


def compile_regressor(model: Any) -> CompiledTrees | CompiledLinear:
    """A fitted HistGradientBoostingRegressor, ExtraTrees/RandomForestRegressor or a
    StandardScaler + linear model pipeline, compiled for one-row predictions."""
    from sklearn.ensemble import (  # type: ignore[import-untyped, unused-ignore]
        ExtraTreesRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped, unused-ignore]

    if isinstance(model, HistGradientBoostingRegressor):
        return _hist_gradient_boosting(model)
    if isinstance(model, ExtraTreesRegressor | RandomForestRegressor):
        return _forest(model)
    if isinstance(model, Pipeline) and hasattr(model.steps[-1][1], "coef_"):
        return _linear(model)
    raise ValidationError(
        "this regressor cannot be compiled for live predictions",
        path="rul model",
        expected="HistGradientBoostingRegressor, ExtraTreesRegressor, RandomForestRegressor "
        "or a StandardScaler + linear model Pipeline",
        got=type(model).__name__,
    )
