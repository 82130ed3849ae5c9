"""Colours of the 3D scene: a value scale with its legend, the alert colour, per-vertex colours.

Parts coloured by a property use viridis (dark blue → green → yellow), which has no red in it,
so that the one red of the scene means an open alert. Stress fields use a blue → red scale
(the convention of structural tools), drawn on the field twin only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from twinkit.errors import ValidationError

__all__ = [
    "ALERT_COLOR",
    "NEUTRAL_COLOR",
    "NO_VALUE_COLOR",
    "PALETTES",
    "ColorScale",
    "LegendStop",
    "hex_color",
    "scale_for",
    "vertex_colors",
]

ALERT_COLOR: Final = "#e53935"
"""A part whose twin has an open alert."""
NO_VALUE_COLOR: Final = "#9e9e9e"
"""A part whose twin has no value of the chosen property."""
NEUTRAL_COLOR: Final = "#b0bec5"
"""A part when the scene is coloured by alerts only."""

Rgb = tuple[float, float, float]

PALETTES: Final[dict[str, tuple[Rgb, ...]]] = {
    # viridis at 0, 0.25, 0.5, 0.75, 1
    "viridis": (
        (0.267, 0.005, 0.329),
        (0.230, 0.322, 0.546),
        (0.128, 0.567, 0.551),
        (0.369, 0.789, 0.383),
        (0.993, 0.906, 0.144),
    ),
    # blue → cyan → green → yellow → red, for stress fields
    "stress": (
        (0.10, 0.20, 0.85),
        (0.00, 0.75, 0.90),
        (0.20, 0.80, 0.25),
        (0.98, 0.85, 0.10),
        (0.85, 0.10, 0.10),
    ),
}


def hex_color(rgb: Sequence[float]) -> str:
    """``#rrggbb`` of an RGB triple with components from 0 to 1 (clipped)."""
    parts = (round(255 * min(max(float(c), 0.0), 1.0)) for c in rgb[:3])
    return "#" + "".join(f"{p:02x}" for p in parts)


def _palette(name: str) -> tuple[Rgb, ...]:
    if name not in PALETTES:
        raise ValidationError(
            "unknown colour palette",
            path="palette",
            expected=f"one of {sorted(PALETTES)}",
            got=name,
        )
    return PALETTES[name]


def _interpolate(
    stops: tuple[Rgb, ...], fractions: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """RGB rows for fractions in [0, 1], linear between evenly spaced stops."""
    grid = np.linspace(0.0, 1.0, len(stops))
    table = np.asarray(stops, dtype=np.float64)
    return np.stack([np.interp(fractions, grid, table[:, c]) for c in range(3)], axis=1)


@dataclass(frozen=True, slots=True)
class LegendStop:
    """One tick of a legend: the value, its label and its colour."""

    value: float
    label: str
    color: str


@dataclass(frozen=True, slots=True)
class ColorScale:
    """Values from ``low`` to ``high`` onto a palette; outside values take the end colours.

    A scale whose ``low`` equals ``high`` (every twin has the same value) gives the middle
    colour to that value.
    """

    low: float
    high: float
    palette: str = "viridis"
    unit: str = ""

    def __post_init__(self) -> None:
        _palette(self.palette)
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValidationError(
                "a colour scale needs a finite range",
                path="scale",
                expected="finite low <= high",
                got=(self.low, self.high),
            )

    def fractions(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Where values fall on the scale, from 0 to 1 (0.5 for every value of a flat scale;
        NaN stays NaN)."""
        array = np.asarray(values, dtype=np.float64)
        span = self.high - self.low
        if span <= 0:
            return np.where(np.isnan(array), np.nan, 0.5)
        return np.clip((array - self.low) / span, 0.0, 1.0)

    def rgb(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """An RGB row (0 to 1) per value; NaN values get :data:`NO_VALUE_COLOR`."""
        fractions = self.fractions(values)
        rows = _interpolate(_palette(self.palette), np.nan_to_num(fractions, nan=0.0))
        missing = np.isnan(fractions)
        if missing.any():
            grey = int(NO_VALUE_COLOR[1:3], 16) / 255.0
            rows[missing] = grey
        return rows

    def color(self, value: float | None) -> str:
        """``#rrggbb`` of one value; None or a non-finite value is :data:`NO_VALUE_COLOR`."""
        if value is None or not math.isfinite(value):
            return NO_VALUE_COLOR
        return hex_color(self.rgb([value])[0])

    def legend(self, ticks: int = 5) -> list[LegendStop]:
        """Evenly spaced ticks from ``low`` to ``high`` (one tick for a flat scale)."""
        count = 1 if self.high <= self.low else max(2, ticks)
        values = [self.low] if count == 1 else list(np.linspace(self.low, self.high, count))
        return [
            LegendStop(float(v), _label(float(v), self.unit), self.color(float(v))) for v in values
        ]

    def gradient_css(self) -> str:
        """A CSS ``linear-gradient`` of the palette, low on the left."""
        stops = _palette(self.palette)
        parts = [f"{hex_color(rgb)} {100 * i / (len(stops) - 1):g}%" for i, rgb in enumerate(stops)]
        return f"linear-gradient(to right, {', '.join(parts)})"


def _label(value: float, unit: str) -> str:
    text = f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.2e}"
    return f"{text} {unit}".strip()


def scale_for(
    values: Iterable[float | None], *, palette: str = "viridis", unit: str = ""
) -> ColorScale | None:
    """The scale spanning the finite values (None when there are none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return ColorScale(min(finite), max(finite), palette, unit)


def vertex_colors(scale: ColorScale, values: npt.ArrayLike) -> list[int]:
    """Per-vertex colours as flat 8-bit RGB (r, g, b per vertex): compact to send to a browser."""
    rows = np.rint(255.0 * scale.rgb(values)).astype(np.int64)
    return [int(v) for v in rows.ravel()]
