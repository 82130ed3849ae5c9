"""The Scenarios page's data shaping: what a twin offers, the spec a form builds, the chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from twinkit.core import RelationshipEdge, Twin
from twinkit.errors import ValidationError
from twinkit.examples.pumps._layout import PIPE, PUMP, STATION, TANK, VALVE, load_models
from twinkit.examples.pumps._shadow import shadow_bindings
from twinkit.sim import Bindings
from twinkit.sim._scenario_spec import ScenarioSpec
from twinkit.store import ScenarioRecord, ScenarioStatus
from twinkit.ui._scenario_view import (
    FaultRow,
    OverrideRow,
    build_spec,
    comparison_options,
    default_name,
    default_series,
    parse_setting,
    scenario_row,
    subgraph,
    twin_offer,
)


def _twin(twin_id: str, model: str, *edges: tuple[str, str]) -> Twin:
    relationships = {
        f"{twin_id}.{name}.{target}": RelationshipEdge(
            f"{twin_id}.{name}.{target}", name, twin_id, target
        )
        for name, target in edges
    }
    return Twin(twin_id, model, 1, 0.0, 0.0, relationships=MappingProxyType(relationships))


class _Graph:
    """A small station: station → pump → pipe → tank ← valve."""

    def __init__(self) -> None:
        twins = [
            _twin("station-1", STATION, ("contains", "pump-1")),
            _twin("pump-1", PUMP, ("feeds", "pipe-1")),
            _twin("pipe-1", PIPE, ("connectsTo", "tank-1")),
            _twin("tank-1", TANK),
            _twin("valve-1", VALVE, ("drains", "tank-1")),
        ]
        self.twins = {twin.id: twin for twin in twins}

    def find(self, twin_id: str) -> Twin | None:
        return self.twins.get(twin_id)

    def incoming(self, twin_id: str) -> Sequence[RelationshipEdge]:
        return [
            edge
            for twin in self.twins.values()
            for edge in twin.relationships.values()
            if edge.target == twin_id
        ]


@pytest.fixture(scope="module")
def bindings() -> Bindings:
    found = Bindings()
    for binding in shadow_bindings():
        found.add(binding, load_models())
    return found


def test_a_valve_offers_its_setpoint_parameters_and_inputs(bindings: Bindings) -> None:
    offer = twin_offer(_Graph().twins["valve-1"], bindings, load_models())
    assert offer is not None
    assert offer.binding == "physics"
    assert offer.parameters == ("dischargeCoefficient", "travelRate")
    assert offer.setpoints == ("openingSetpoint",)
    assert "openingSetpoint" in offer.inputs
    assert offer.outputs == ("opening", "flow")
    assert offer.names("setpoint") == ("openingSetpoint",)
    assert set(offer.fault_targets) >= {"dischargeCoefficient", "openingSetpoint"}


def test_a_tank_offers_its_neighbour_fed_inputs_by_variable(bindings: Bindings) -> None:
    offer = twin_offer(_Graph().twins["tank-1"], bindings, load_models())
    assert offer is not None
    assert offer.setpoints == ()
    assert set(offer.inputs) == {"inflow", "opening", "dischargeCoefficient"}


def test_a_twin_without_a_simulator_offers_nothing(bindings: Bindings) -> None:
    assert twin_offer(_Graph().twins["station-1"], bindings, load_models()) is None


def test_the_subgraph_is_the_scenarios_own_walk() -> None:
    graph = _Graph()
    assert subgraph(graph, ["tank-1"], 0) == ("tank-1",)
    assert set(subgraph(graph, ["tank-1"], 1)) == {"tank-1", "pipe-1", "valve-1"}
    with pytest.raises(ValidationError) as caught:
        subgraph(graph, ["tank-1", "nope"], 1)
    assert caught.value.path == "roots/1"


def test_settings_are_constants_or_schedules() -> None:
    assert parse_setting(" 1450 ", "inputs/pump-1/speed") == 1450.0
    assert parse_setting("0:1450, 1800:1200", "x") == [[0.0, 1450.0], [1800.0, 1200.0]]
    with pytest.raises(ValidationError) as caught:
        parse_setting("0:1450, soon:1200", "inputs/pump-1/speed")
    assert caught.value.path == "inputs/pump-1/speed/1/0"


def test_a_spec_from_the_form_is_what_the_api_takes() -> None:
    spec = build_spec(
        name="clogged",
        roots=["tank-1"],
        horizon=3600,
        dt=10,
        overrides=[
            OverrideRow("parameter", "tank-1", "area", "4"),
            OverrideRow("input", "pump-1", "speed", "0:1450, 1800:1200"),
            OverrideRow("setpoint", "valve-1", "openingSetpoint", "40"),
        ],
        faults=[FaultRow("valve-1", "opening", "multiply", "0.3", "600", "")],
        description=" a test ",
    )
    assert spec == {
        "name": "clogged",
        "roots": ["tank-1"],
        "horizon": 3600,
        "depth": 1,
        "dt": 10,
        "description": "a test",
        "parameters": {"tank-1": {"area": 4.0}},
        "inputs": {"pump-1": {"speed": [[0.0, 1450.0], [1800.0, 1200.0]]}},
        "setpoints": {"valve-1": {"openingSetpoint": 40.0}},
        "faults": [{"twin": "valve-1", "target": "opening", "start": 600.0, "multiplier": 0.3}],
    }
    assert ScenarioSpec.from_json(spec).faults[0].multiplier == 0.3


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"horizon": -1}, "horizon"),
        ({"name": "bad name!"}, "name"),
        ({"roots": []}, "roots"),
        ({"overrides": [OverrideRow("input", "pump-1", "speed", "0:1, 99999:2")]}, None),
        ({"overrides": [OverrideRow("parameter", "tank-1", "area", "big")]}, None),
        ({"faults": [FaultRow("valve-1", "opening", "replace", "x")]}, "faults/0/value"),
        ({"faults": [FaultRow("valve-1", "opening", "multiply", "1", "50", "10")]}, None),
    ],
)
def test_a_bad_form_says_which_field(changes: dict[str, object], path: str | None) -> None:
    values: dict[str, object] = {"name": "s", "roots": ["tank-1"], "horizon": 100.0}
    values.update(changes)
    with pytest.raises(ValidationError) as caught:
        build_spec(**values)  # type: ignore[arg-type]
    assert caught.value.path
    if path is not None:
        assert caught.value.path == path
    else:
        assert caught.value.path.split("/")[0] in ("inputs", "parameters", "faults")


def test_default_names_are_valid_scenario_names() -> None:
    name = default_name(["pump #1/ö"], now=0.0)
    assert name == "whatif-pump-1-19700101-000000"
    ScenarioSpec(name=name, roots=("x",), horizon=1.0)
    assert default_name([], now=0.0) == "whatif-19700101-000000"


def test_the_first_series_compared_is_a_measured_one_of_a_root() -> None:
    series = [("pipe-1", "flow"), ("tank-1", "volume"), ("tank-1", "level")]
    assert default_series(series, ["tank-1"], {"tank-1": ["level"]}) == ("tank-1", "level")
    assert default_series(series, ["tank-1"], {}) == ("tank-1", "volume")
    assert default_series(series, ["valve-1"], {}) == ("pipe-1", "flow")
    assert default_series([], ["tank-1"], {}) is None


def test_a_scenario_row() -> None:
    record = ScenarioRecord(
        name="s1",
        spec={"roots": ["tank-1", "valve-1"], "at": 0.0, "horizon": 600.0},
        status=ScenarioStatus.RUNNING,
        created=0.0,
        cause="token:abc",
        progress=0.426,
    )
    row = scenario_row(record)
    assert row["progress"] == "43%"
    assert row["at"] == "1970-01-01 00:00:00"
    assert row["roots"] == "tank-1, valve-1"
    assert row["horizon"] == "600 s"


def test_the_comparison_chart() -> None:
    index = pd.DatetimeIndex(pd.to_datetime([0, 1_000_000], unit="us", utc=True), name="time")
    frame = pd.DataFrame(
        {"scenario": [2.0, 2.5], "reality": [2.0, np.nan], "difference": [0.0, np.nan]},
        index=index,
    )
    options = comparison_options(frame, label="tank-1 / level", unit="metre")
    series = {s["name"]: s for s in options["series"]}
    assert series["reality"]["data"] == [[0, 2.0], [1000, None]]
    assert series["scenario"]["data"] == [[0, 2.0], [1000, 2.5]]
    assert series["scenario"]["lineStyle"]["type"] == "dashed"
    assert options["legend"]["selected"] == {"difference": False}
    assert options["xAxis"]["type"] == "time"
    assert options["yAxis"]["name"] == "tank-1 / level (metre)"
    assert all(
        value is None or math.isfinite(value) for s in options["series"] for _, value in s["data"]
    )
