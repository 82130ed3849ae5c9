"""``twinkit demo pumps``: the station set up once, live over MQTT, controllable through the API."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from twinkit.cli import cli
from twinkit.core import EventType, Runtime
from twinkit.errors import ConflictError
from twinkit.examples.pumps import PIPE, PUMP, station_layout
from twinkit.examples.pumps._demo import DEMO_CAUSE, install_station
from twinkit.store import SQLiteStore

TWINKIT = Path(sys.executable).with_name("twinkit")


# --- the set-up step, in-process ----------------------------------------------------------------


def test_install_station_creates_everything_once(tmp_path: Path) -> None:
    layout = station_layout(2, replay_pump=False)

    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "twinkit.db") as store:
            runtime = await Runtime.open(store)
            first = await install_station(runtime, layout)
            assert first.fresh and len(first.models) == 6
            assert sorted(first.twins) == sorted(t.id for t in layout.twins)
            assert len(first.relationships) == len(layout.relationships)
            assert {e.target for e in runtime.outgoing("station-1")} == {
                t.id for t in layout.twins if t.id != "station-1"
            }
            created = await runtime.events("pump-1")
            assert created[0].type is EventType.TWIN_CREATED and created[0].cause == DEMO_CAUSE
            versions = {t.id: t.version for t in runtime.twins()}

            again = await install_station(runtime, layout)
            assert not again.fresh
            assert {t.id: t.version for t in runtime.twins()} == versions  # nothing written

            bigger = await install_station(runtime, station_layout(3, replay_pump=False))
            assert set(bigger.twins) == {"pump-3", "pipe-3"} and not bigger.models
            await runtime.close()

    asyncio.run(scenario())


def test_install_station_refuses_a_state_that_belongs_to_something_else(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with await SQLiteStore.open(tmp_path / "twinkit.db") as store:
            runtime = await Runtime.open(store)
            layout = station_layout(1, replay_pump=False)
            await install_station(runtime, layout)
            await runtime.delete_twin("station-1", cause="test")  # nothing points at it
            await runtime.create_twin("station-1", PIPE, cause="test")
            with pytest.raises(ConflictError) as refused:
                await install_station(runtime, layout)
            assert "station-1" in str(refused.value) and PIPE in str(refused.value)
            assert "--state" in str(refused.value)
            assert runtime.get("pump-1").model == PUMP
            await runtime.close()

    asyncio.run(scenario())


# --- the command, as a user runs it -------------------------------------------------------------


def test_a_taken_port_or_an_empty_skab_folder_fail_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["demo", "pumps", "--state", str(state), "--port", str(port)]
        )
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    empty = tmp_path / "skab"
    empty.mkdir()
    result = CliRunner().invoke(
        cli, ["demo", "pumps", "--state", str(state), "--port", "0", "--data", str(empty)]
    )
    assert result.exit_code == 1 and "no SKAB runs" in result.output, result.output
    assert not state.exists()  # nothing was opened


class Demo:
    """``twinkit demo pumps`` as a subprocess; its API URL is read from what it prints."""

    def __init__(self, state: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("TWINKIT_TOKEN", "TWINKIT_HOST", "TWINKIT_PORT", "TWINKIT_MQTT_URL"):
            env.pop(name, None)
        command = [str(TWINKIT), "demo", "pumps", "--state", str(state), "--port", "0", *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self.api = ""
        self.mqtt_port = 0
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if found := re.match(r"\s+API\s+(http://\S+)", line):
                self.api = found.group(1)
            if found := re.match(r"\s+MQTT\s+mqtt://127\.0\.0\.1:(\d+)", line):
                self.mqtt_port = int(found.group(1))
            if self.api and line.startswith("The demo stops"):  # the last line of the block
                break
        assert self.api, "the demo did not start:\n" + self.output
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._drain.join(5)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.wait(30)


def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """The first truthy result of ``check``, polled; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def in_sync(api: httpx.Client) -> dict[str, Any] | None:
    """pump-1's speedSetpoint when the device acknowledged and reports the desired value."""
    prop: dict[str, Any] = api.get("/twins/pump-1/properties/speedSetpoint").json()
    return prop if prop["inSync"] else None


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.usefixtures("mosquitto_binary")
def test_demo_runs_a_live_station_and_a_second_run_reuses_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    demo = Demo(state, "--speedup", "10", "--duration", "120")
    try:
        token = (state / "admin-token").read_text().strip()
        assert f"(shown once, also in {state / 'admin-token'}): {token}" in demo.output
        assert f"{state} (created)" in demo.output and "/docs" in demo.output
        assert "twin set-desired pump-1 speedSetpoint 1200" in demo.output
        assert "supervised mosquitto" in demo.output
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=demo.api, headers=headers, timeout=10) as api:
            twins = {t["id"]: t for t in api.get("/twins").json()["items"]}
            assert sorted(twins) == sorted(t.id for t in station_layout(3, replay_pump=False))
            assert twins["pump-1"]["model"] == PUMP
            contained = api.get("/twins/station-1/relationships").json()["items"]
            assert {e["target"] for e in contained} == set(twins) - {"station-1"}
            feeds = api.get("/twins/pump-1/relationships").json()["items"]
            assert [(e["name"], e["target"]) for e in feeds] == [("feeds", "pipe-1")]
            into_tank = api.get("/twins/tank-1/incoming").json()["items"]
            assert {e["source"] for e in into_tank} >= {"pipe-1", "pipe-2", "pipe-3", "valve-1"}

            def telemetry() -> dict[str, Any]:
                return api.get("/twins/pump-1/telemetry").json()  # type: ignore[no-any-return]

            first = until(lambda: telemetry().get("flow"), "pump-1's first telemetry")
            later = until(
                lambda: (t := telemetry())["flow"]["time"] > first["time"] and t,
                "newer telemetry",
            )
            assert later["flow"]["value"] != first["value"]  # measured, with noise
            assert later["motorPower"]["value"] > 5.0 and later["flow"]["value"] > 25.0
            history = api.get("/twins/pump-1/telemetry/flow").json()["points"]
            assert len(history) >= 2

            answer = api.put("/twins/pump-1/properties/speedSetpoint/desired", json={"value": 1200})
            assert answer.status_code == 200, answer.text
            assert answer.json()["desired"] == 1200 and answer.json()["desiredVersion"] == 1

            synced = until(lambda: in_sync(api), "the device to acknowledge speedSetpoint")
            assert synced["reported"] == 1200 and synced["ackCode"] == 200
            assert synced["ackVersion"] == 1
            slower = until(
                lambda: (v := telemetry()["flow"]["value"]) < 0.8 * later["flow"]["value"] and v,
                "pump-1's flow to drop at 1200 rpm",
            )
            assert slower > 5.0  # slower, still pumping
    finally:
        assert demo.interrupt() == 0, demo.output
    assert "SIGINT: stopping" in demo.output and "twinkit demo stopped" in demo.output
    assert demo.mqtt_port and port_closed(demo.mqtt_port), "the supervised broker outlived it"

    again = Demo(state, "--speedup", "10", "--duration", "6")
    try:
        assert f"{state} (reused)" in again.output
        assert token not in again.output and f"admin token: in {state / 'admin-token'}" in (
            again.output
        )
        with httpx.Client(base_url=again.api, headers=headers, timeout=10) as api:
            assert api.get("/twins").json()["total"] == 9
            events = api.get("/twins/pump-1/events").json()["items"]
            assert [e["type"] for e in events].count("TwinCreated") == 1
            prop = api.get("/twins/pump-1/properties/speedSetpoint").json()
            assert prop["desired"] == 1200 and prop["desiredVersion"] == 1  # kept
            # the restarted device got the retained desired value from the broker
            synced = until(lambda: in_sync(api), "the restarted device at 1200 rpm", timeout=5)
            assert synced["reported"] == 1200
    finally:
        code = again.wait(30)
    assert code == 0, again.output
    assert "ran its 6 s" in again.output and "Traceback" not in again.output
    assert "already exists" not in again.output
