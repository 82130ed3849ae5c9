"""SKAB runs: reading the CSVs, and replaying them as a pump's telemetry over MQTT."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pump_helpers import Broker, Listener

from twinkit.errors import NotFoundError, ValidationError
from twinkit.examples.pumps import PUMP, SkabReplay, load_models, read_skab_csv, skab_runs
from twinkit.examples.pumps._mqtt import Broker as BrokerAddress
from twinkit.model import compile_validator

HEADER = (
    "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;"
    "Voltage;Volume Flow RateRMS;anomaly;changepoint"
)
ROWS = [
    "2020-03-09 10:14:33;0.0265;0.0401;1.33;0.054;79.33;26.01;233.0;32.0;0.0;0.0",
    "2020-03-09 10:14:34;0.0261;0.0404;1.35;0.382;79.51;26.02;236.0;33.0;0.0;0.0",
    "2020-03-09 10:14:35;0.0262;0.0394;1.54;0.710;79.37;26.02;251.3;34.0;1.0;1.0",
    "2020-03-09 10:14:37;0.0260;0.0396;1.33;0.382;79.60;26.03;234.3;35.0;1.0;0.0",
]


def write_run(path: Path, rows: list[str] = ROWS, header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_read_maps_columns_onto_pump_telemetry_and_keeps_labels_apart(tmp_path: Path) -> None:
    run = read_skab_csv(write_run(tmp_path / "valve1" / "0.csv"))
    assert len(run) == 4
    assert run.times[0] == datetime(2020, 3, 9, 10, 14, 33, tzinfo=UTC).timestamp()
    assert list(run.times - run.times[0]) == [0.0, 1.0, 2.0, 4.0]
    row = run.row(1)
    assert row["flow"] == pytest.approx(33.0 / 60.0)  # l/min -> l/s
    assert row["vibration2"] == 0.0404 and row["dischargePressure"] == 0.382
    assert row["motorTemperature"] == 79.51 and row["fluidTemperature"] == 26.02
    assert "anomaly" not in row and "changepoint" not in row
    assert list(run.labels["anomaly"]) == [0.0, 0.0, 1.0, 1.0]
    compile_validator(load_models(), PUMP).telemetry_batch(row)


def test_anomaly_free_runs_have_no_anomaly(tmp_path: Path) -> None:
    header = HEADER.removesuffix(";anomaly;changepoint")
    rows = [r.rsplit(";", 2)[0] for r in ROWS]
    run = read_skab_csv(write_run(tmp_path / "free.csv", rows, header))
    assert len(run) == 4 and set(run.labels) == {"anomaly", "changepoint"}
    assert not any(run.labels["anomaly"]) and not any(run.labels["changepoint"])


def test_bad_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="columns") as err:
        read_skab_csv(write_run(tmp_path / "a.csv", ROWS, HEADER.replace("Current;", "")))
    assert err.value.path == f"{tmp_path / 'a.csv'}:1"
    bad = [ROWS[0], ROWS[1].replace("1.35", "x"), ROWS[2]]
    with pytest.raises(ValidationError, match="not a number") as err:
        read_skab_csv(write_run(tmp_path / "b.csv", bad))
    assert err.value.path == f"{tmp_path / 'b.csv'}:3"
    with pytest.raises(NotFoundError):
        read_skab_csv(tmp_path / "missing.csv")
    with pytest.raises(NotFoundError, match="SKAB data folder not found"):
        skab_runs(tmp_path / "nowhere")


def test_runs_are_listed_by_folder_then_number(tmp_path: Path) -> None:
    for name in ("other/10.csv", "other/2.csv", "valve1/1.csv", "anomaly-free/anomaly-free.csv"):
        write_run(tmp_path / name)
    (tmp_path / "README.md").write_text("not a run")
    found = [p.relative_to(tmp_path).as_posix() for p in skab_runs(tmp_path)]
    assert found == ["anomaly-free/anomaly-free.csv", "valve1/1.csv", "other/2.csv", "other/10.csv"]


@pytest.fixture
def listener(mosquitto: Broker) -> Iterator[Listener]:
    client = Listener(mosquitto.url)
    yield client
    client.close()


def replay(mosquitto: Broker, runs: list[Path], speedup: float) -> SkabReplay:
    broker = BrokerAddress.from_url(mosquitto.url)
    return SkabReplay(broker, "pump-skab", runs, speedup=speedup, loop=False)


@pytest.mark.integration
def test_replay_publishes_every_row_with_its_relative_timing(
    mosquitto: Broker, listener: Listener, tmp_path: Path
) -> None:
    path = write_run(tmp_path / "run.csv")
    device = replay(mosquitto, [path, path], speedup=20.0)
    device.start()
    try:
        assert device.finished.wait(10)
        listener.wait(lambda m: m.topic == "site/pump-skab/status" and m.text == "online")
        messages = [listener.on("site/pump-skab/telemetry")]
        for _ in range(7):
            messages.append(
                listener.on(
                    "site/pump-skab/telemetry",
                    where=lambda p, last=messages[-1]: p["ts"] > last["ts"],
                )
            )
    finally:
        device.stop()
    assert device.published == 8
    run = read_skab_csv(path)
    validator = compile_validator(load_models(), PUMP)
    for index, message in enumerate(messages):
        assert message["values"] == run.row(index % 4)
        validator.telemetry_batch(message["values"])
    offsets = [round((m["ts"] - messages[0]["ts"]) * 20.0, 3) for m in messages]
    # The second pass follows the first one second (the run's own spacing) after its last row.
    assert offsets == [0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 9.0]
    listener.wait(lambda m: m.topic == "site/pump-skab/status" and m.text == "offline")


@pytest.mark.integration
def test_replay_refuses_control(mosquitto: Broker, listener: Listener, tmp_path: Path) -> None:
    device = replay(mosquitto, [write_run(tmp_path / "run.csv")], speedup=1.0)
    device.start()
    try:
        listener.publish("site/pump-skab/desired", {"speedSetpoint": 1000.0, "$version": 1})
        listener.publish("site/pump-skab/commands/start", {"id": "r1", "request": None})
        ack = listener.on(
            "site/pump-skab/properties", where=lambda p: "speedSetpoint" in p["values"]
        )["values"]["speedSetpoint"]
        assert ack["ac"] == 400 and ack["av"] == 1 and "replays" in ack["ad"]
        answer = listener.on("site/pump-skab/commands/start/response")
        assert answer["id"] == "r1" and answer["status"] == 405
    finally:
        device.stop()


@pytest.mark.integration
def test_a_real_skab_run_replays_its_first_rows(
    mosquitto: Broker, listener: Listener, shared_data: Path
) -> None:
    real_skab = shared_data / "skab"
    path = real_skab / "valve1" / "0.csv"
    assert path in skab_runs(real_skab)
    with path.open(newline="") as handle:
        expected = list(itertools.islice(csv.DictReader(handle, delimiter=";"), 5))
    device = replay(mosquitto, [path], speedup=50.0)
    device.start()
    try:
        messages = [listener.on("site/pump-skab/telemetry")]
        while len(messages) < 5:
            messages.append(
                listener.on(
                    "site/pump-skab/telemetry",
                    where=lambda p, last=messages[-1]: p["ts"] > last["ts"],
                )
            )
    finally:
        device.stop()
    for message, row in zip(messages, expected, strict=True):
        values = message["values"]
        assert values["vibration1"] == float(row["Accelerometer1RMS"])
        assert values["motorCurrent"] == float(row["Current"])
        assert values["dischargePressure"] == float(row["Pressure"])
        assert values["voltage"] == float(row["Voltage"])
        assert values["flow"] == pytest.approx(float(row["Volume Flow RateRMS"]) / 60.0)
        assert "anomaly" not in values
