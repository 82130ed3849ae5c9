"""What the Scenarios pages show and build, as plain data: no NiceGUI here.

- :func:`scenario_row`: a kept scenario as a row of the list (status, progress, fork time);
- :func:`twin_offer` / :func:`subgraph`: what a twin's simulation binding lets a scenario
  change (parameters, inputs, setpoints, fault targets) and which twins a set of roots and
  a depth take in, so the form offers only names that exist;
- :func:`parse_setting` and :func:`build_spec`: the form's rows turned into the scenario's
  JSON spec, checked by :class:`~twinkit.sim._scenario_spec.ScenarioSpec` (errors name the
  field: ``inputs/pump-1/speed/1/0``) before it is submitted;
- :func:`comparison_options`: the scenario against reality (``compare_scenario``'s frame)
  as ECharts options: reality solid, the scenario dashed, the difference on demand.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.model import ModelSet, Property
from twinkit.sim._binding import Bindings, Related
from twinkit.sim._scenario_plan import GraphView, fork_twins
from twinkit.sim._scenario_spec import ScenarioSpec
from twinkit.store import ScenarioRecord

__all__ = [
    "FaultRow",
    "OverrideRow",
    "TwinOffer",
    "build_spec",
    "comparison_options",
    "default_name",
    "default_series",
    "parse_setting",
    "scenario_row",
    "subgraph",
    "twin_offer",
]

OverrideKind = Literal["parameter", "input", "setpoint"]
_KEYS: Final[dict[str, str]] = {
    "parameter": "parameters",
    "input": "inputs",
    "setpoint": "setpoints",
}
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._~-]+")


def _iso(when: float | None) -> str:
    if when is None or not math.isfinite(when):
        return "-"
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")


def scenario_row(record: ScenarioRecord) -> dict[str, Any]:
    """A scenario as a row of the list (``name`` is the row key)."""
    spec = record.spec
    roots = spec.get("roots") or []
    return {
        "name": record.name,
        "status": record.status.value,
        "progress": f"{record.progress:.0%}",
        "at": _iso(spec.get("at")),
        "horizon": f"{float(spec.get('horizon') or 0):g} s",
        "roots": ", ".join(str(root) for root in roots),
        "cause": record.cause,
        "error": record.error or "",
    }


@dataclass(frozen=True, slots=True)
class TwinOffer:
    """What a scenario may change on one twin, from its model's simulation binding.

    Names are the twin contents a binding maps (else the simulator's variable names), as a
    scenario spec accepts either; setpoints are writable properties that feed an input."""

    twin_id: str
    model: str
    binding: str
    parameters: tuple[str, ...]
    inputs: tuple[str, ...]
    setpoints: tuple[str, ...]
    outputs: tuple[str, ...]

    def names(self, kind: OverrideKind) -> tuple[str, ...]:
        """The names an override of ``kind`` may take."""
        return {"parameter": self.parameters, "input": self.inputs, "setpoint": self.setpoints}[
            kind
        ]

    @property
    def fault_targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.parameters, *self.inputs)))


def twin_offer(twin: Twin, bindings: Bindings, models: ModelSet) -> TwinOffer | None:
    """What a scenario may change on ``twin``; None when its model has no simulator bound."""
    found = bindings.for_model(twin.model, models)
    if not found:
        return None
    binding = found[0]
    contents = models.contents(twin.model)
    inputs = [
        source if isinstance(source, str) else variable
        for variable, source in binding.inputs.items()
        if not isinstance(source, Related) or not source.incoming
    ]
    inputs += [v for v, s in binding.inputs.items() if isinstance(s, Related) and s.incoming]
    setpoints = [
        source
        for source in binding.inputs.values()
        if isinstance(source, str)
        and isinstance(content := contents.get(source), Property)
        and content.writable
    ]
    return TwinOffer(
        twin_id=twin.id,
        model=twin.model,
        binding=binding.name,
        parameters=tuple(dict.fromkeys(binding.parameters.values())),
        inputs=tuple(dict.fromkeys(inputs)),
        setpoints=tuple(dict.fromkeys(setpoints)),
        outputs=tuple(dict.fromkeys(binding.outputs.values())),
    )


def subgraph(graph: GraphView, roots: Sequence[str], depth: int) -> tuple[str, ...]:
    """The twins a scenario with these roots and depth takes in (the scenario's own walk);
    ValidationError naming the root that does not exist."""
    spec = ScenarioSpec(name="preview", roots=tuple(roots), horizon=1.0, depth=depth)
    return fork_twins(spec, graph, time.time()).subgraph


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """A parameter, input or setpoint override as typed into the form; ``value`` is a number
    or a schedule ``offset:value, offset:value`` (seconds from the fork)."""

    kind: OverrideKind
    twin: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class FaultRow:
    """A fault as typed into the form: ``target`` scaled by (``multiply``) or replaced with
    (``replace``) ``amount`` from ``start`` to ``end`` (blank: the end of the run)."""

    twin: str
    target: str
    mode: Literal["multiply", "replace"]
    amount: str
    start: str = "0"
    end: str = ""


def _number(text: str, path: str, what: str = "a number") -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValidationError(f"not {what}", path=path, expected=what, got=text) from None
    if not math.isfinite(value):
        raise ValidationError(f"not {what}", path=path, expected=f"a finite {what}", got=text)
    return value


def parse_setting(text: str, path: str) -> float | list[list[float]]:
    """``1450`` (held the whole run) or ``0:1450, 1800:1200`` (steps at offsets in seconds),
    as the CLI's ``--input`` takes it."""
    text = str(text).strip()
    if ":" not in text:
        return _number(text, path, "a number, or offset:value steps")
    steps = []
    for index, part in enumerate(p for p in text.split(",") if p.strip()):
        offset, _, value = part.partition(":")
        steps.append(
            [
                _number(offset, f"{path}/{index}/0", "an offset in seconds"),
                _number(value, f"{path}/{index}/1"),
            ]
        )
    return steps


def _fault(row: FaultRow, index: int) -> dict[str, Any]:
    path = f"faults/{index}"
    fault: dict[str, Any] = {
        "twin": row.twin,
        "target": row.target,
        "start": _number(row.start or "0", f"{path}/start", "an offset in seconds"),
    }
    key = "multiplier" if row.mode == "multiply" else "value"
    fault[key] = _number(row.amount, f"{path}/{key}")
    if str(row.end).strip():
        fault["end"] = _number(row.end, f"{path}/end", "an offset in seconds")
    return fault


def build_spec(
    *,
    name: str,
    roots: Sequence[str],
    horizon: float,
    dt: float | None = None,
    depth: int = 1,
    overrides: Iterable[OverrideRow] = (),
    faults: Iterable[FaultRow] = (),
    description: str = "",
) -> dict[str, Any]:
    """The scenario's JSON spec (what ``POST /scenarios`` takes), checked: ValidationError
    with the field's path when something does not fit."""
    spec: dict[str, Any] = {
        "name": name.strip(),
        "roots": list(roots),
        "horizon": horizon,
        "depth": depth,
    }
    if not roots:
        raise ValidationError(
            "a scenario needs a root twin", path="roots", expected="one or more twin ids", got=[]
        )
    if dt is not None:
        spec["dt"] = dt
    if description.strip():
        spec["description"] = description.strip()
    for row in overrides:
        key = _KEYS[row.kind]
        path = f"{key}/{row.twin}/{row.name}"
        if not row.twin or not row.name:
            raise ValidationError(
                f"a {row.kind} override needs a twin and a name",
                path=path,
                expected="a twin id and a name",
                got={"twin": row.twin, "name": row.name},
            )
        value: Any = (
            _number(row.value, path) if row.kind == "parameter" else parse_setting(row.value, path)
        )
        spec.setdefault(key, {}).setdefault(row.twin, {})[row.name] = value
    checked_faults = [_fault(row, index) for index, row in enumerate(faults)]
    if checked_faults:
        spec["faults"] = checked_faults
    ScenarioSpec.from_json(spec)  # every check that needs no twin, with its path
    return spec


def default_name(roots: Sequence[str], now: float | None = None) -> str:
    """``whatif-<first root>-<UTC time>``: unique enough, and a valid scenario name."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    root = _UNSAFE.sub("-", roots[0]).strip("-.~_")[:60] if roots else ""
    return f"whatif-{root + '-' if root else ''}{stamp:%Y%m%d-%H%M%S}"


def default_series(
    series: Sequence[tuple[str, str]], roots: Sequence[str], measured: Mapping[str, Iterable[str]]
) -> tuple[str, str] | None:
    """The series to compare first: a measured one of a root twin (there is reality to
    compare with), else any of a root, else the first; ``measured``: twin → its contents."""
    if not series:
        return None
    for twin_id, name in series:
        if twin_id in roots and name in set(measured.get(twin_id, ())):
            return twin_id, name
    return next(((t, n) for t, n in series if t in roots), series[0])


def _pairs(millis: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> list[list[Any]]:
    return [
        [int(t), float(v) if math.isfinite(float(v)) else None]
        for t, v in zip(millis, values, strict=True)
    ]


def comparison_options(
    frame: pd.DataFrame, *, label: str, unit: str | None = None
) -> dict[str, Any]:
    """ECharts options for a comparison frame (columns ``scenario``, ``reality``,
    ``difference`` on a UTC time index): reality solid, scenario dashed, the difference
    hidden until picked in the legend; gaps where a value is missing; zoom on the time axis."""
    index = pd.DatetimeIndex(frame.index)
    millis = np.asarray(index.as_unit("ns").asi8) // 1_000_000
    columns = {
        name: frame[name].to_numpy(dtype=np.float64)
        for name in ("scenario", "reality", "difference")
        if name in frame.columns
    }
    styles = {
        "reality": {"color": "#222222", "lineStyle": {"width": 2}},
        "scenario": {"color": "#e67e22", "lineStyle": {"width": 2, "type": "dashed"}},
        "difference": {"color": "#8e44ad", "lineStyle": {"width": 1}},
    }
    series = [
        {
            "name": name,
            "type": "line",
            "showSymbol": False,
            "connectNulls": False,
            "data": _pairs(millis, values),
            **styles[name],
        }
        for name, values in columns.items()
    ]
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": list(columns), "selected": {"difference": False}},
        "grid": {"left": 60, "right": 20, "top": 40, "bottom": 70},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": f"{label} ({unit})" if unit else label, "scale": True},
        "dataZoom": [{"type": "inside"}, {"type": "slider"}],
        "series": series,
    }
