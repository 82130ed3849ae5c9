"""The degradation generator: health falls monotonically to failure, sensors move with wear
as C-MAPSS sensors do, test engines are cut before failure with their true RUL."""

from __future__ import annotations

import numpy as np
import pytest

from twinkit.errors import ValidationError
from twinkit.examples.turbofan import (
    CONDITIONS,
    SENSORS,
    FleetSpec,
    engine_life,
    generate_fleet,
    telemetry_frame,
)
from twinkit.predict._cmapss import CMAPSS_COLUMNS


def test_health_falls_monotonically_from_initial_wear_to_zero_at_failure() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        life = engine_life(FleetSpec(), rng)
        health = life.health(np.arange(0, life.life + 1, dtype=np.float64))
        assert np.all(np.diff(health) < 0), "health must fall at every cycle"
        assert health[0] == pytest.approx(1 - life.initial_wear)
        assert health[-1] == pytest.approx(0.0, abs=1e-12)  # fails exactly at its life
        # slow onset, then acceleration: half the life costs far less than half the health
        assert 1 - life.initial_wear - health[life.life // 2] < 0.5 * health[0]
        assert life.life >= FleetSpec().min_life and 0 <= life.initial_wear <= 0.1


def test_training_engines_run_to_failure_with_sensor_trends_of_their_sign() -> None:
    fleet = generate_fleet(FleetSpec(train=30, test=0, seed=1))
    assert fleet.name == "generated" and len(fleet.train) == 30 and not fleet.test
    lives = [len(frame) for frame in fleet.train]
    assert min(lives) >= 128 and 170 < np.mean(lives) < 250  # FD001: 128-362, mean 206
    for sensor in SENSORS:
        # the last 20 cycles against the first 20, averaged over engines: the shift's sign,
        # and a move of several noise levels (noise averages out over 20 cycles x 30 engines)
        moves = [
            frame[sensor.column].iloc[-20:].mean() - frame[sensor.column].iloc[:20].mean()
            for frame in fleet.train
        ]
        assert np.sign(np.mean(moves)) == np.sign(sensor.shift), sensor.column
        assert abs(np.mean(moves)) > 0.5 * abs(sensor.shift), sensor.column
        # and noisy: consecutive readings differ by about the noise level
        first = fleet.train[0][sensor.column].to_numpy()
        assert np.std(np.diff(first[:50])) > 0.5 * sensor.noise, sensor.column
    constant = fleet.train[0][["s1", "s5", "s10", "s16", "s18", "s19"]]
    assert (constant.nunique() == 1).all()  # no wear, one flight condition: constant
    assert list(fleet.train[0].columns) == list(CMAPSS_COLUMNS[1:])  # as engine_frames gives


def test_test_engines_are_cut_before_failure_and_the_fleet_is_reproducible() -> None:
    spec = FleetSpec(train=5, test=40, seed=4)
    fleet = generate_fleet(spec)
    assert len(fleet.test) == len(fleet.test_rul) == 40
    assert fleet.test_rul.min() >= spec.min_rul and fleet.test_rul.max() <= spec.max_rul
    assert min(len(frame) for frame in fleet.test) >= spec.min_cut
    assert [frame.attrs["unit"] for frame in fleet.test] == list(range(1, 41))
    again = generate_fleet(spec)
    for one, other in zip(fleet.train + fleet.test, again.train + again.test, strict=True):
        assert one.equals(other)
    other_seed = generate_fleet(FleetSpec(train=5, test=40, seed=5))
    assert not fleet.train[0].equals(other_seed.train[0])
    # the test engines do not depend on how many are drawn, nor on the training engines
    assert generate_fleet(FleetSpec(train=5, test=3, seed=4)).test[2].equals(fleet.test[2])


def test_six_flight_conditions_move_every_sensor_with_the_condition() -> None:
    fleet = generate_fleet(FleetSpec(train=3, test=0, conditions=6, seed=2))
    frame = fleet.train[0]
    conditions = {tuple(row) for row in frame[["setting1", "setting2", "setting3"]].round(0).values}
    assert len(conditions) == 6
    assert conditions == {tuple(np.round(c, 0)) for c in CONDITIONS}
    high = frame[frame["setting1"] > 40]["s7"].mean()
    ground = frame[frame["setting1"] < 1]["s7"].mean()
    assert high < 0.5 * ground  # HPC pressure falls with altitude


def test_telemetry_frames_carry_the_twin_names() -> None:
    frame = telemetry_frame(generate_fleet(FleetSpec(train=1, test=0)).train[0])
    assert list(frame.columns[:5]) == ["cycle", "altitude", "mach", "throttle", "T24"]
    assert len(frame.columns) == 18 and frame.attrs["unit"] == 1
    with pytest.raises(ValidationError, match="lacks C-MAPSS columns"):
        telemetry_frame(frame)


@pytest.mark.parametrize(
    ("field", "value"), [("conditions", 3), ("train", -1), ("min_rul", 200), ("noise", -1.0)]
)
def test_a_bad_fleet_setting_is_refused_with_its_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        FleetSpec(**{field: value})  # type: ignore[arg-type]
