"""Semantic types and units: DTDL's tables, and conversion between units through pint.

``version=2`` gives the terms DTDL v2 builds into ``dtmi:dtdl:context;2``; ``version=3`` gives
those of the QuantitativeTypes extension (``dtmi:dtdl:extension:quantitativeTypes;1``), which
is how DTDL v3 gets them. Every DTDL unit has a pint expression (:func:`pint_unit`).

Units without a physical dimension, and how twinkit's pint registry handles them:

- ``unity``, ``percent``, ``partsPerMillion``... are pure ratios (``percent`` is 0.01).
- ``bit`` and ``byte`` (and their binary multiples) are dimensionless in pint; a byte is 8 bits.
- ``radian``, ``degreeOfArc``, ``turn``... are dimensionless too, as in SI.
- ``bel`` and ``decibel`` are logarithmic; they convert to each other only.

Since pint would happily convert a percent into degrees of arc, :func:`conversion` also
requires two DTDL units to share a DTDL unit type, and refuses dimensionless pint spellings
that are not DTDL units. pint is imported only when a registry is first needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from twinkit.errors import ValidationError
from twinkit.model import _quantities_data as _data

if TYPE_CHECKING:
    import pint

__all__ = [
    "EXTRA_DEFINITIONS",
    "all_terms",
    "conversion",
    "pint_unit",
    "semantic_types",
    "unit_registry",
    "unit_types",
    "units_of",
]

EXTRA_DEFINITIONS: Final = (
    # pint's maxwell and gauss belong to the Gaussian system and do not convert to SI units.
    "si_maxwell = 1e-8 * weber",
    "si_gauss = 1e-4 * tesla",
    "bel = 1 ; logbase: 10; logfactor: 1",
    "parts_per_billion = 1e-9 = ppb",
    "parts_per_trillion = 1e-12",
    "parts_per_quadrillion = 1e-15 = ppq",
    "volt_ampere_reactive = volt_ampere = VAr",
)
"""Definitions twinkit adds to pint's default registry so that every DTDL unit has a name."""

_SEMANTIC_TYPES: Final = {
    2: MappingProxyType(_data.SEMANTIC_TYPES_V2),
    3: MappingProxyType(_data.SEMANTIC_TYPES_V3),
}
_UNIT_TYPES: Final = {
    2: MappingProxyType(_data.UNIT_TYPES_V2),
    3: MappingProxyType(_data.UNIT_TYPES_V3),
}
_PREFIXES: Final = {2: _data.UNIT_PREFIXES_V2, 3: _data.UNIT_PREFIXES_V3}

_UNIT_TYPES_OF: Final[dict[str, frozenset[str]]] = {}
for _type, _units in _data.UNIT_TYPES_V3.items():
    for _unit in _units:
        _UNIT_TYPES_OF[_unit] = _UNIT_TYPES_OF.get(_unit, frozenset()) | {_type}
del _type, _units, _unit


def _check_version(version: int) -> None:
    if version not in _SEMANTIC_TYPES:
        raise ValueError(f"expected DTDL version 2 or 3, got {version!r}")


def semantic_types(version: int) -> Mapping[str, str]:
    """Semantic type -> its unit type (``"Temperature"`` -> ``"TemperatureUnit"``)."""
    _check_version(version)
    return _SEMANTIC_TYPES[version]


def unit_types(version: int) -> Mapping[str, frozenset[str]]:
    """Unit type -> the unit terms it holds."""
    _check_version(version)
    return _UNIT_TYPES[version]


def units_of(semantic_type: str, version: int) -> frozenset[str]:
    """The units a value of ``semantic_type`` may be given in; KeyError for an unknown one."""
    return unit_types(version)[semantic_types(version)[semantic_type]]


@cache
def all_terms(version: int) -> frozenset[str]:
    """Every semantic type, unit type, unit and unit prefix term of the version's context."""
    _check_version(version)
    units = frozenset().union(*_UNIT_TYPES[version].values())
    types = frozenset(_SEMANTIC_TYPES[version]) | frozenset(_UNIT_TYPES[version])
    return types | units | _PREFIXES[version]


def pint_unit(dtdl_unit: str) -> str:
    """The pint expression for a DTDL unit term (``"degreeCelsius"`` -> ``"degC"``).

    The expression is valid in :func:`unit_registry`, which defines a few names pint lacks.
    """
    try:
        return _data.PINT_UNITS[dtdl_unit]
    except KeyError:
        raise ValidationError(
            "unknown DTDL unit",
            expected="a DTDL unit term such as 'degreeCelsius'",
            got=dtdl_unit,
        ) from None


@cache
def unit_registry() -> pint.UnitRegistry[Any]:
    """twinkit's pint registry: pint's defaults plus :data:`EXTRA_DEFINITIONS`."""
    import pint

    registry: pint.UnitRegistry[Any] = pint.UnitRegistry()
    for definition in EXTRA_DEFINITIONS:
        registry.define(definition)
    return registry


@cache
def _dtdl_unit_by_pint() -> dict[object, str]:
    """Parsed pint unit -> DTDL unit term, to recognise pint spellings of DTDL units."""
    registry = unit_registry()
    found: dict[object, str] = {}
    for term in sorted(_data.PINT_UNITS):
        found.setdefault(registry.parse_units(_data.PINT_UNITS[term]), term)
    return found


def _resolve(unit: str) -> tuple[pint.Unit, str | None]:
    """A unit as pint parses it, and the DTDL term it is (None for a non-DTDL unit)."""
    registry = unit_registry()
    expression = _data.PINT_UNITS.get(unit, unit)
    try:
        parsed = registry.parse_units(expression)
    except Exception as err:  # pint raises several unrelated types for bad input
        raise ValidationError(
            "unknown unit",
            expected="a DTDL unit term ('degreeFahrenheit') or a pint unit ('degF')",
            got=unit,
        ) from err
    term = unit if unit in _data.PINT_UNITS else _dtdl_unit_by_pint().get(parsed)
    return parsed, term


@lru_cache(maxsize=4096)
def conversion(from_unit: str, to_unit: str) -> tuple[float, float]:
    """``(factor, offset)`` with ``value_in_to_unit = value * factor + offset``.

    Each unit is a DTDL unit term or a pint spelling (``"degF"``, ``"kPa"``, ``"rpm"``).
    Raises ValidationError for an unknown unit, units of different kinds, or a conversion
    that is not affine (decibel to unity).
    """
    source, source_term = _resolve(from_unit)
    target, target_term = _resolve(to_unit)
    if source_term is not None and target_term is not None:
        compatible = bool(_UNIT_TYPES_OF[source_term] & _UNIT_TYPES_OF[target_term])
    else:
        compatible = source.dimensionality == target.dimensionality and not (source.dimensionless)
    if not compatible:
        raise ValidationError(
            f"cannot convert {from_unit!r} to {to_unit!r}",
            expected=f"a unit of the same kind as {to_unit!r}",
            got=from_unit,
        )
    registry = unit_registry()

    def convert(value: float) -> float:
        return float(registry.Quantity(value, source).to(target).magnitude)

    offset = convert(0.0)
    factor = (convert(1000.0) - offset) / 1000.0  # a wide span keeps the offset's rounding out
    probe = convert(1.0)
    if not math.isclose(probe, factor + offset, rel_tol=1e-9, abs_tol=1e-12):
        raise ValidationError(
            f"cannot convert {from_unit!r} to {to_unit!r} by a factor and an offset",
            expected="units related linearly (a factor and an offset)",
            got=from_unit,
        )
    return factor, offset
