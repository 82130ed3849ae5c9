"""Uncertain parameters: distributions and seeded sampling of ensemble members.

A distribution is a frozen value object with an inverse CDF (``ppf``), so every sampling plan
works the same way: draw points in the unit hypercube, one column per uncertain name, and map
each column through its distribution's ``ppf``. Latin hypercube sampling (``scipy.stats.qmc``)
is the default: it covers each marginal evenly, so percentile bands settle with fewer members
than plain Monte Carlo (``method="mc"``). The same ``seed`` gives the same members.

    samples = sample({"cv": LogNormal(median=0.3, sigma=0.1), "area": Uniform(1.8, 2.2)},
                     n=1000, seed=7)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import ValidationError

__all__ = [
    "Distribution",
    "LogNormal",
    "Normal",
    "Sampling",
    "Triangular",
    "TruncatedNormal",
    "Uniform",
    "sample",
]

Array: TypeAlias = npt.NDArray[np.float64]
Sampling: TypeAlias = Literal["lhs", "mc"]
_EDGE = 1e-12  # unit-interval points are kept this far from 0 and 1, where tails are infinite


@runtime_checkable
class Distribution(Protocol):
    """A distribution of one uncertain value, known by its inverse CDF."""

    def ppf(self, q: Array) -> Array:
        """The quantiles at probabilities ``q`` (each in (0, 1))."""
        ...


def _finite(owner: object, **values: float) -> None:
    for name, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValidationError(
                f"{type(owner).__name__}.{name} is not a finite number",
                path=f"{type(owner).__name__}/{name}",
                expected="a finite number",
                got=value,
            )


def _positive(owner: object, name: str, value: float) -> None:
    if not value > 0:
        raise ValidationError(
            f"{type(owner).__name__}.{name} must be positive",
            path=f"{type(owner).__name__}/{name}",
            expected="> 0",
            got=value,
        )


def _ordered(owner: object, **bounds: float) -> None:
    names, values = list(bounds), list(bounds.values())
    if any(b < a for a, b in itertools.pairwise(values)) or values[0] == values[-1]:
        raise ValidationError(
            f"{type(owner).__name__} bounds are out of order",
            path=f"{type(owner).__name__}",
            expected=" <= ".join(names) + f" with {names[0]} < {names[-1]}",
            got=bounds,
        )


@dataclass(frozen=True, slots=True)
class Normal:
    """Normal with mean ``mean`` and standard deviation ``std``."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        _finite(self, mean=self.mean, std=self.std)
        _positive(self, "std", self.std)

    def ppf(self, q: Array) -> Array:
        from scipy.special import ndtri  # type: ignore[import-untyped, unused-ignore]

        return np.asarray(self.mean + self.std * ndtri(q), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal: ``ln X`` is normal around ``ln median`` with standard deviation ``sigma``.

    For small ``sigma`` it is about a ``100 * sigma`` percent scatter around ``median``; it
    stays positive, which suits coefficients such as friction or a valve's flow coefficient.
    """

    median: float
    sigma: float

    def __post_init__(self) -> None:
        _finite(self, median=self.median, sigma=self.sigma)
        _positive(self, "median", self.median)
        _positive(self, "sigma", self.sigma)

    def ppf(self, q: Array) -> Array:
        from scipy.special import ndtri  # type: ignore[import-untyped, unused-ignore]

        return np.asarray(self.median * np.exp(self.sigma * ndtri(q)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform between ``low`` and ``high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _finite(self, low=self.low, high=self.high)
        _ordered(self, low=self.low, high=self.high)

    def ppf(self, q: Array) -> Array:
        return np.asarray(self.low + (self.high - self.low) * q, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Triangular:
    """Triangular between ``low`` and ``high`` with its peak at ``mode``."""

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        _finite(self, low=self.low, mode=self.mode, high=self.high)
        _ordered(self, low=self.low, mode=self.mode, high=self.high)

    def ppf(self, q: Array) -> Array:
        width = self.high - self.low
        split = (self.mode - self.low) / width
        rising = self.low + np.sqrt(q * width * (self.mode - self.low))
        falling = self.high - np.sqrt((1.0 - q) * width * (self.high - self.mode))
        return np.asarray(np.where(q < split, rising, falling), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TruncatedNormal:
    """Normal(``mean``, ``std``) restricted to [``low``, ``high``] (either may be infinite)."""

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        _finite(self, mean=self.mean, std=self.std)
        _positive(self, "std", self.std)
        for name, bound in (("low", self.low), ("high", self.high)):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or math.isnan(bound):
                raise ValidationError(
                    f"TruncatedNormal.{name} is not a number",
                    path=f"TruncatedNormal/{name}",
                    expected="a number (or ±inf for no bound)",
                    got=bound,
                )
        _ordered(self, low=self.low, high=self.high)
        # Bounds so far into one tail that the interval has no probability cannot be sampled.
        if (self.low - self.mean) / self.std > 37 or (self.high - self.mean) / self.std < -37:
            raise ValidationError(
                "TruncatedNormal bounds lie beyond 37 standard deviations from the mean",
                path="TruncatedNormal",
                expected="an interval [low, high] with some probability under the normal",
                got={"mean": self.mean, "std": self.std, "low": self.low, "high": self.high},
            )

    def ppf(self, q: Array) -> Array:
        from scipy.stats import truncnorm  # type: ignore[import-untyped, unused-ignore]

        a, b = (self.low - self.mean) / self.std, (self.high - self.mean) / self.std
        values = truncnorm.ppf(q, a, b, loc=self.mean, scale=self.std)
        return np.clip(np.asarray(values, dtype=np.float64), self.low, self.high)


def unit_points(
    n: int, dimensions: int, *, method: Sampling = "lhs", seed: int | None = None
) -> Array:
    """``n`` points in the open unit hypercube of ``dimensions`` dimensions."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(
            "an ensemble needs at least one member", path="n", expected="an int >= 1", got=n
        )
    rng = np.random.default_rng(seed)
    if method == "lhs":
        from scipy.stats import qmc  # type: ignore[import-untyped, unused-ignore]

        points = qmc.LatinHypercube(d=max(dimensions, 1), rng=rng).random(n)[:, :dimensions]
    elif method == "mc":
        points = rng.random((n, dimensions))
    else:
        raise ValidationError(
            "unknown sampling method",
            path="sampling",
            expected="'lhs' (Latin hypercube) or 'mc' (plain Monte Carlo)",
            got=method,
        )
    return np.clip(np.asarray(points, dtype=np.float64), _EDGE, 1.0 - _EDGE)


def sample(
    uncertain: Mapping[str, Distribution],
    n: int,
    *,
    method: Sampling = "lhs",
    seed: int | None = None,
) -> pd.DataFrame:
    """``n`` members drawn from ``uncertain``: one row per member, one column per name."""
    for name, distribution in uncertain.items():
        if not isinstance(distribution, Distribution):
            raise ValidationError(
                f"uncertain value {name!r} has no distribution",
                path=f"uncertain/{name}",
                expected="Normal, LogNormal, Uniform, Triangular, TruncatedNormal or any "
                "object with ppf(q)",
                got=distribution,
            )
    points = unit_points(n, len(uncertain), method=method, seed=seed)
    columns = {
        name: distribution.ppf(points[:, index])
        for index, (name, distribution) in enumerate(uncertain.items())
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n, name="member"))
    bad = [name for name in frame.columns if not np.all(np.isfinite(frame[name].to_numpy()))]
    if bad:
        raise ValidationError(
            "a distribution gave non-finite samples",
            path=f"uncertain/{bad[0]}",
            expected="finite values from ppf on (0, 1)",
            got=bad,
        )
    return frame
