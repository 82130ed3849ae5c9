"""What a what-if scenario is: the spec, checked before anything runs.

A scenario forks the twins around some roots (``depth`` relationship hops, either direction) at
a time ``at`` (now by default, or a past time: the state then comes from time travel) and
advances them ``horizon`` seconds in steps of ``dt`` with changes on top of the forked state:

- ``parameters``: per twin, simulator parameters set at the start (a pump's rated speed);
- ``inputs``: per twin, simulator inputs held at a constant, or a schedule of
  ``(offset seconds, value)`` steps, each held until the next (zero-order hold); before the
  first step the input follows the twin as bound;
- ``setpoints``: per twin, a desired value of a writable property, which the twin's binding
  maps to a simulator input (a valve's opening setpoint); a constant or a schedule;
- ``faults``: a parameter or input of a twin replaced by ``value`` or scaled by ``multiplier``
  from ``start`` (offset seconds) until ``end`` (the end of the run by default): a clogged
  valve is its opening * 0.3 from t + 600 s.

Names in overrides and faults are the simulator's variable names or the twin contents the
binding maps to them; which exist is checked when the scenario is forked (see
:mod:`twinkit.sim._scenario_plan`). This module checks everything that needs no twin: names,
numbers, offsets inside the horizon, and the step count (:data:`MAX_STEPS`).

The JSON form (the API's and the CLI's) uses the same keys, with schedules as lists of
``[offset, value]`` pairs and ``at`` as seconds since the epoch or ISO 8601.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from twinkit.errors import ValidationError
from twinkit.query._timetravel import seconds

__all__ = [
    "MAX_DEPTH",
    "MAX_FAULTS",
    "MAX_SCHEDULE",
    "MAX_STEPS",
    "Fault",
    "ScenarioSpec",
    "Schedule",
    "Setting",
    "setting_at",
    "step_count",
]

MAX_STEPS: Final = 1_000_000
"""The most steps (horizon / dt) one scenario may take."""
MAX_SCHEDULE: Final = 10_000
"""The most steps one input schedule may have."""
MAX_FAULTS: Final = 1_000
MAX_DEPTH: Final = 32
MAX_ROOTS: Final = 10_000

Schedule: TypeAlias = tuple[tuple[float, float], ...]
"""``(offset seconds, value)`` steps by increasing offset; each value holds until the next."""
Setting: TypeAlias = "float | Schedule"
"""A constant value, or a :data:`Schedule`."""
Overrides: TypeAlias = Mapping[str, Mapping[str, Any]]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


def _number(value: object, path: str, what: str = "a finite number") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"not {what}", path=path, expected=what, got=value)
    return float(value)


def _text(value: object, path: str, expected: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("not a name", path=path, expected=expected, got=value)
    return value


def step_count(horizon: float, dt: float) -> int:
    """Steps of ``dt`` (the last one shortened) that cover ``horizon``; checked against
    :data:`MAX_STEPS`."""
    if not dt > 0:
        raise ValidationError("step must be positive", path="dt", expected="dt > 0", got=dt)
    count = math.ceil(horizon / dt - 1e-9)
    if count > MAX_STEPS:
        raise ValidationError(
            f"{count:,} steps is more than a scenario may take",
            path="dt",
            expected=f"horizon / dt <= {MAX_STEPS:,} (a longer dt or a shorter horizon)",
            got={"horizon": horizon, "dt": dt},
        )
    return max(count, 1)


def setting_at(setting: Setting, offset: float) -> float | None:
    """The value of ``setting`` at ``offset`` seconds; None before a schedule's first step."""
    if isinstance(setting, float):
        return setting
    value = None
    for start, step_value in setting:
        if start > offset:
            break
        value = step_value
    return value


def _setting(value: object, path: str, horizon: float) -> Setting:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return _number(value, path, "a number, or a schedule of [offset, value] steps")
    if not value or len(value) > MAX_SCHEDULE:
        raise ValidationError(
            "bad schedule length",
            path=path,
            expected=f"1 to {MAX_SCHEDULE:,} [offset seconds, value] steps",
            got=len(value),
        )
    steps: list[tuple[float, float]] = []
    for index, pair in enumerate(value):
        where = f"{path}/{index}"
        if not isinstance(pair, Sequence) or isinstance(pair, str | bytes) or len(pair) != 2:
            raise ValidationError(
                "bad schedule step", path=where, expected="[offset seconds, value]", got=pair
            )
        offset = _number(pair[0], f"{where}/0", "an offset in seconds")
        if not 0 <= offset < horizon or (steps and offset <= steps[-1][0]):
            low = steps[-1][0] if steps else 0
            raise ValidationError(
                "schedule offsets must increase inside the horizon",
                path=f"{where}/0",
                expected=f"{low:g} {'<' if steps else '<='} offset < horizon ({horizon:g} s)",
                got=offset,
            )
        steps.append((offset, _number(pair[1], f"{where}/1")))
    return tuple(steps)


def _overrides(
    value: object, path: str, horizon: float, *, schedules: bool
) -> Mapping[str, Mapping[str, Any]]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise ValidationError(
            "overrides must be an object",
            path=path,
            expected='{"<twin id>": {"<name>": value}}',
            got=value,
        )
    out: dict[str, Mapping[str, Any]] = {}
    for twin_id, names in value.items():
        twin_path = f"{path}/{twin_id}"
        _text(twin_id, twin_path, "a twin id")
        if not isinstance(names, Mapping) or not names:
            raise ValidationError(
                "per-twin overrides must be a non-empty object",
                path=twin_path,
                expected='{"<name>": value}',
                got=names,
            )
        checked: dict[str, Any] = {}
        for name, setting in names.items():
            where = f"{twin_path}/{name}"
            _text(name, where, "a parameter, input or property name")
            checked[name] = (
                _setting(setting, where, horizon) if schedules else _number(setting, where)
            )
        out[twin_id] = MappingProxyType(checked)
    return MappingProxyType(out)


@dataclass(frozen=True, slots=True)
class Fault:
    """A parameter or input of ``twin`` replaced by ``value`` or scaled by ``multiplier``
    from ``start`` until ``end`` (offset seconds; None: the end of the run). ``kind`` says
    which ``target`` names when a simulator has a parameter and an input of that name."""

    twin: str
    target: str
    start: float = 0.0
    value: float | None = None
    multiplier: float | None = None
    end: float | None = None
    kind: Literal["parameter", "input"] | None = None

    def check(self, path: str, horizon: float) -> Fault:
        """The fault with numbers as floats; ValidationError naming ``path`` otherwise."""
        _text(self.twin, f"{path}/twin", "a twin id")
        _text(self.target, f"{path}/target", "a parameter or input name")
        start = _number(self.start, f"{path}/start", "an offset in seconds")
        if not 0 <= start < horizon:
            raise ValidationError(
                "a fault must start inside the horizon",
                path=f"{path}/start",
                expected=f"0 <= start < horizon ({horizon:g} s)",
                got=start,
            )
        end = None if self.end is None else _number(self.end, f"{path}/end", "seconds")
        if end is not None and end <= start:
            raise ValidationError(
                "a fault must end after it starts",
                path=f"{path}/end",
                expected=f"end > start ({start:g} s), or null for the end of the run",
                got=end,
            )
        if (self.value is None) == (self.multiplier is None):
            raise ValidationError(
                "a fault needs a value or a multiplier",
                path=path,
                expected="exactly one of value and multiplier",
                got={"value": self.value, "multiplier": self.multiplier},
            )
        if self.kind not in (None, "parameter", "input"):
            raise ValidationError(
                "unknown fault kind",
                path=f"{path}/kind",
                expected="parameter or input",
                got=self.kind,
            )
        return Fault(
            self.twin,
            self.target,
            start,
            None if self.value is None else _number(self.value, f"{path}/value"),
            None if self.multiplier is None else _number(self.multiplier, f"{path}/multiplier"),
            end,
            self.kind,
        )

    def active(self, offset: float) -> bool:
        return self.start <= offset and (self.end is None or offset < self.end)

    def apply(self, value: float) -> float:
        return value * self.multiplier if self.multiplier is not None else float(self.value or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A what-if scenario (see the module docstring). Checked and normalized when made: every
    number a float, overrides read-only mappings, schedules tuples; a bad field raises
    :class:`ValidationError` with its path (``inputs/pump-1/speed/2/0``)."""

    name: str
    roots: tuple[str, ...]
    horizon: float
    dt: float | None = None
    depth: int = 1
    at: float | None = None
    binding: str | None = None
    parameters: Overrides = field(default_factory=lambda: _EMPTY)
    inputs: Overrides = field(default_factory=lambda: _EMPTY)
    setpoints: Overrides = field(default_factory=lambda: _EMPTY)
    faults: tuple[Fault, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValidationError(
                "bad scenario name",
                path="name",
                expected="1-128 letters, digits and . _ ~ - (not first)",
                got=self.name,
            )
        horizon = _number(self.horizon, "horizon", "a horizon in seconds")
        if horizon <= 0:
            raise ValidationError(
                "the horizon must be positive", path="horizon", expected="seconds > 0", got=horizon
            )
        set_ = object.__setattr__
        set_(self, "horizon", horizon)
        set_(self, "roots", _roots(self.roots))
        set_(self, "depth", _depth(self.depth))
        if self.dt is not None:
            dt = _number(self.dt, "dt", "a step in seconds")
            step_count(horizon, dt)
            set_(self, "dt", dt)
        if self.at is not None:
            set_(self, "at", _instant(self.at))
        if self.binding is not None:
            _text(self.binding, "binding", "the name of a simulation binding")
        if not isinstance(self.description, str):
            raise ValidationError(
                "bad description", path="description", expected="text", got=self.description
            )
        set_(
            self, "parameters", _overrides(self.parameters, "parameters", horizon, schedules=False)
        )
        set_(self, "inputs", _overrides(self.inputs, "inputs", horizon, schedules=True))
        set_(self, "setpoints", _overrides(self.setpoints, "setpoints", horizon, schedules=True))
        set_(self, "faults", _faults(self.faults, horizon))

    @classmethod
    def from_json(cls, data: object) -> ScenarioSpec:
        """A spec from its JSON form (unknown keys are errors, so typos do not go unseen)."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                "a scenario must be a JSON object", path="", expected="an object", got=data
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ValidationError(
                f"unknown scenario field {unknown[0]!r}",
                path=unknown[0],
                expected=f"some of {sorted(known)}",
                got=unknown,
            )
        for required in ("name", "roots", "horizon"):
            if data.get(required) is None:
                raise ValidationError(
                    f"a scenario needs {required!r}",
                    path=required,
                    expected={
                        "name": "a name",
                        "roots": "a list of twin ids",
                        "horizon": "seconds to simulate",
                    }[required],
                    got=None,
                )
        faults = data.get("faults") or ()
        if not isinstance(faults, Sequence) or isinstance(faults, str | bytes):
            raise ValidationError(
                "faults must be a list", path="faults", expected="a list of objects", got=faults
            )
        values = {key: data[key] for key in known if data.get(key) is not None}
        values["faults"] = tuple(
            _fault_from_json(item, f"faults/{i}") for i, item in enumerate(faults)
        )
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON form; :meth:`from_json` of it gives an equal spec."""

        def plain(overrides: Overrides) -> dict[str, Any]:
            return {
                twin: {
                    name: value if isinstance(value, float) else [list(step) for step in value]
                    for name, value in names.items()
                }
                for twin, names in overrides.items()
            }

        return {
            "name": self.name,
            "roots": list(self.roots),
            "horizon": self.horizon,
            "dt": self.dt,
            "depth": self.depth,
            "at": self.at,
            "binding": self.binding,
            "parameters": plain(self.parameters),
            "inputs": plain(self.inputs),
            "setpoints": plain(self.setpoints),
            "faults": [fault.to_json() for fault in self.faults],
            "description": self.description,
        }


def _instant(value: Any) -> float:
    """Seconds since the epoch, from a number, a numeric string, a datetime or ISO 8601."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return seconds(value, "at")


def _roots(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if (
        not isinstance(value, Sequence)
        or isinstance(value, bytes)
        or not 0 < len(value) <= MAX_ROOTS
    ):
        raise ValidationError(
            "a scenario needs root twins",
            path="roots",
            expected=f"a list of 1 to {MAX_ROOTS:,} twin ids",
            got=value,
        )
    return tuple(_text(root, f"roots/{i}", "a twin id") for i, root in enumerate(value))


def _depth(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DEPTH:
        raise ValidationError(
            "bad depth",
            path="depth",
            expected=f"relationship hops to follow from the roots, 0 to {MAX_DEPTH}",
            got=value,
        )
    return value


def _faults(value: object, horizon: float) -> tuple[Fault, ...]:
    if not isinstance(value, Sequence) or len(value) > MAX_FAULTS:
        raise ValidationError(
            "bad faults", path="faults", expected=f"at most {MAX_FAULTS} faults", got=value
        )
    checked = []
    for index, fault in enumerate(value):
        if not isinstance(fault, Fault):
            raise ValidationError(
                "not a fault", path=f"faults/{index}", expected="a Fault", got=fault
            )
        checked.append(fault.check(f"faults/{index}", horizon))
    return tuple(checked)


def _fault_from_json(item: object, path: str) -> Fault:
    if not isinstance(item, Mapping):
        raise ValidationError(
            "a fault must be an object",
            path=path,
            expected='{"twin", "target", "start", "value" or "multiplier"}',
            got=item,
        )
    known = {f.name for f in fields(Fault)}
    unknown = sorted(str(key) for key in item if key not in known)
    if unknown:
        raise ValidationError(
            f"unknown fault field {unknown[0]!r}",
            path=f"{path}/{unknown[0]}",
            expected=f"some of {sorted(known)}",
            got=unknown,
        )
    for required in ("twin", "target"):
        if item.get(required) is None:
            raise ValidationError(
                f"a fault needs {required!r}",
                path=f"{path}/{required}",
                expected="a name",
                got=None,
            )
    values = {key: item[key] for key in known if item.get(key) is not None}
    return Fault(**values)
