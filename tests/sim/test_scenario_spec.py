"""A scenario spec is checked before anything runs, with errors that say where."""

from __future__ import annotations

from typing import Any

import pytest

from twinkit.errors import ValidationError
from twinkit.sim._scenario_spec import (
    MAX_STEPS,
    Fault,
    ScenarioSpec,
    setting_at,
    step_count,
)

BASE: dict[str, Any] = {"name": "what-if", "roots": ["tank-1"], "horizon": 600, "dt": 10}


def spec(**changes: Any) -> ScenarioSpec:
    return ScenarioSpec.from_json({**BASE, **changes})


def test_json_round_trip_keeps_every_field() -> None:
    original = spec(
        depth=2,
        at="2026-01-01T00:00:00Z",
        binding="physics",
        parameters={"tank-1": {"area": 4}},
        inputs={"source-1": {"rate": [[0, 1], [300, 3.5]], "other": 2}},
        setpoints={"source-1": {"rate": 2}},
        faults=[{"twin": "tank-1", "target": "k", "start": 300, "multiplier": 0.5}],
        description="a clogged outlet",
    )
    assert original.at == 1767225600.0
    assert original.inputs["source-1"]["rate"] == ((0.0, 1.0), (300.0, 3.5))
    assert original.parameters["tank-1"]["area"] == 4.0
    assert original.faults == (Fault("tank-1", "k", 300.0, None, 0.5),)
    again = ScenarioSpec.from_json(original.to_json())
    assert again == original
    assert again.to_json()["inputs"]["source-1"]["rate"] == [[0.0, 1.0], [300.0, 3.5]]


def test_defaults_and_python_construction() -> None:
    made = ScenarioSpec("x", roots="tank-1", horizon=60)  # type: ignore[arg-type]
    assert made.roots == ("tank-1",)
    assert made.dt is None and made.depth == 1 and made.at is None
    assert made.inputs == {} and made.faults == ()
    with pytest.raises(TypeError):
        made.inputs["tank-1"] = {}  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"name": "no spaces"}, "name", "bad scenario name"),
        ({"horizon": -5}, "horizon", "must be positive"),
        ({"horizon": "long"}, "horizon", "a horizon in seconds"),
        ({"dt": 0}, "dt", "must be positive"),
        ({"horizon": 1e9, "dt": 1}, "dt", "steps is more than"),
        ({"roots": []}, "roots", "needs root twins"),
        ({"roots": ["ok", 7]}, "roots/1", "not a name"),
        ({"depth": -1}, "depth", "bad depth"),
        ({"depth": True}, "depth", "bad depth"),
        ({"at": "yesterday"}, "at", "malformed time"),
        ({"colour": "red"}, "colour", "unknown scenario field"),
        ({"parameters": {"tank-1": {"area": "big"}}}, "parameters/tank-1/area", "finite"),
        ({"parameters": {"tank-1": {"area": [[0, 1]]}}}, "parameters/tank-1/area", "finite"),
        ({"parameters": {"tank-1": {}}}, "parameters/tank-1", "non-empty"),
        ({"inputs": {"s": {"rate": float("nan")}}}, "inputs/s/rate", "a number"),
        ({"inputs": {"s": {"rate": []}}}, "inputs/s/rate", "schedule length"),
        ({"inputs": {"s": {"rate": [[0, 1], [0, 2]]}}}, "inputs/s/rate/1/0", "must increase"),
        ({"inputs": {"s": {"rate": [[700, 1]]}}}, "inputs/s/rate/0/0", "inside the horizon"),
        ({"inputs": {"s": {"rate": [[0, 1, 2]]}}}, "inputs/s/rate/0", "bad schedule step"),
        ({"setpoints": ["rate"]}, "setpoints", "must be an object"),
        ({"faults": {"twin": "t"}}, "faults", "must be a list"),
        (
            {"faults": [{"twin": "t", "target": "k", "value": 1, "multiplier": 2}]},
            "faults/0",
            "a value or a multiplier",
        ),
        ({"faults": [{"twin": "t", "target": "k"}]}, "faults/0", "a value or a multiplier"),
        (
            {"faults": [{"twin": "t", "target": "k", "start": 600, "value": 1}]},
            "faults/0/start",
            "inside the horizon",
        ),
        (
            {"faults": [{"twin": "t", "target": "k", "start": 60, "end": 30, "value": 1}]},
            "faults/0/end",
            "end after",
        ),
        (
            {"faults": [{"twin": "t", "target": "k", "value": 1, "kind": "state"}]},
            "faults/0/kind",
            "unknown fault kind",
        ),
        ({"faults": [{"twin": "t", "value": 1}]}, "faults/0/target", "needs 'target'"),
        (
            {"faults": [{"twin": "t", "target": "k", "value": 1, "when": 3}]},
            "faults/0/when",
            "unknown fault field",
        ),
    ],
)
def test_bad_specs_say_where(changes: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        spec(**changes)
    assert caught.value.path == path
    assert caught.value.expected


def test_missing_required_fields() -> None:
    for field in ("name", "roots", "horizon"):
        data = {k: v for k, v in BASE.items() if k != field}
        with pytest.raises(ValidationError, match=f"needs {field!r}") as caught:
            ScenarioSpec.from_json(data)
        assert caught.value.path == field
    with pytest.raises(ValidationError, match="JSON object"):
        ScenarioSpec.from_json(["not", "a", "spec"])


def test_step_count_covers_the_horizon() -> None:
    assert step_count(600, 10) == 60
    assert step_count(605, 10) == 61  # the last step is shortened
    assert step_count(MAX_STEPS, 1) == MAX_STEPS
    with pytest.raises(ValidationError):
        step_count(MAX_STEPS + 1, 1)


def test_schedules_hold_each_value_until_the_next() -> None:
    schedule = ((10.0, 1.0), (20.0, 2.0))
    assert setting_at(schedule, 0) is None  # before the first step: the bound value
    assert setting_at(schedule, 10) == 1.0
    assert setting_at(schedule, 19.99) == 1.0
    assert setting_at(schedule, 25) == 2.0
    assert setting_at(3.0, 1e9) == 3.0


def test_faults_apply_inside_their_window() -> None:
    clog = Fault("valve-1", "opening", start=600, multiplier=0.3, end=1200).check("f", 3600)
    assert not clog.active(599.9) and clog.active(600) and not clog.active(1200)
    assert clog.apply(50.0) == pytest.approx(15.0)
    stuck = Fault("valve-1", "opening", value=10).check("f", 3600)
    assert stuck.active(0) and stuck.apply(50.0) == 10.0
