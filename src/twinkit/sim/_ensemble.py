"""The result of an ensemble: every member's trajectories, percentile bands, failures.

Vectorized ODE ensembles (:func:`twinkit.sim._integrate.run_ensemble`) and ensembles of any
simulator run member by member (:mod:`twinkit.sim._dask`) both return an
:class:`EnsembleResult`. A member that failed (diverged, raised, lost its worker) is marked in
``failed`` with its reason in ``reasons``; its values are NaN from the time it failed, and it is
left out of the bands: divergence is reported, never averaged in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import SimulationError, ValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["EnsembleResult"]

Array: TypeAlias = npt.NDArray[np.float64]
Mask: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)  # arrays have no single truth value
class EnsembleResult:
    """Every member's recorded outputs, the members' parameters, and which members failed.

    ``outputs[name]`` is an array of shape ``(members, len(times))``; a failed member's row is
    NaN from the time it failed. ``samples`` has one row per member (its parameters and
    initial states), in member order; ``reasons`` says why each failed member failed.
    """

    times: Array
    outputs: Mapping[str, Array]
    samples: pd.DataFrame
    failed: Mask
    reasons: Mapping[int, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of members, failed ones included."""
        return len(self.failed)

    @property
    def n_failed(self) -> int:
        return int(np.count_nonzero(self.failed))

    def band(self, output: str, quantiles: Sequence[float] = (5, 50, 95)) -> pd.DataFrame:
        """Percentiles of ``output`` over the members that did not fail, indexed by time.

        Columns are named ``p5``, ``p50``, ``p95`` (for the default ``quantiles``).
        """
        values = self._values(output)[~self.failed]
        qs = _check_quantiles(quantiles)
        if len(values) == 0:
            raise SimulationError("every member failed: no band to compute", where=output)
        table = np.percentile(values, qs, axis=0)
        columns = {f"p{q:g}": table[i] for i, q in enumerate(qs)}
        return pd.DataFrame(columns, index=pd.Index(self.times, name="time"))

    def bands(self, quantiles: Sequence[float] = (5, 50, 95)) -> dict[str, pd.DataFrame]:
        """:meth:`band` of every output."""
        return {name: self.band(name, quantiles) for name in self.outputs}

    def frame(self, *names: str) -> pd.DataFrame:
        """Members' trajectories: index time, columns ``(output, member)`` (all outputs by default)."""
        parts = []
        for name in names or tuple(self.outputs):
            columns = pd.MultiIndex.from_product(
                [[name], range(self.n)], names=["output", "member"]
            )
            parts.append(pd.DataFrame(self._values(name).T, index=self.times, columns=columns))
        frame = pd.concat(parts, axis=1)
        frame.index.name = "time"
        return frame

    def failures(self) -> pd.DataFrame:
        """The failed members' parameters with a ``reason`` column (empty if none failed)."""
        rows = np.flatnonzero(self.failed)
        frame = self.samples.iloc[rows].copy()
        frame["reason"] = [self.reasons.get(int(i), "failed") for i in rows]
        return frame

    def plot(
        self, output: str, *, quantiles: Sequence[float] = (5, 50, 95), ax: Axes | None = None
    ) -> Axes:
        """Draw the band of ``output`` (outer quantiles shaded, middle one as a line)."""
        import matplotlib.pyplot as plt

        if len(quantiles) != 3:
            raise ValidationError(
                "a band plot needs three quantiles",
                path="quantiles",
                expected="(low, middle, high), e.g. (5, 50, 95)",
                got=tuple(quantiles),
            )
        band = self.band(output, quantiles)
        low, mid, high = band.columns
        if ax is None:
            _, ax = plt.subplots(figsize=(9, 4))
        ax.fill_between(self.times, band[low], band[high], alpha=0.3, label=f"{low} to {high}")
        ax.plot(self.times, band[mid], label=f"{output} {mid}")
        ax.set_xlabel("time (s)")
        ax.set_title(f"{output}: {self.n - self.n_failed} of {self.n} members")
        ax.legend()
        return ax

    def _values(self, name: str) -> Array:
        if name not in self.outputs:
            raise ValidationError(
                f"no output {name!r} in the ensemble",
                path=name,
                expected=f"one of {sorted(self.outputs)}",
                got=name,
            )
        return self.outputs[name]


def _check_quantiles(quantiles: Sequence[float]) -> list[float]:
    qs = [float(q) for q in quantiles]
    if (
        not qs
        or any(not 0 <= q <= 100 for q in qs)
        or any(b <= a for a, b in itertools.pairwise(qs))
    ):
        raise ValidationError(
            "quantiles must be increasing percentages",
            path="quantiles",
            expected="increasing values in [0, 100], e.g. (5, 50, 95)",
            got=tuple(quantiles),
        )
    return qs
