"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from twinkit.connect import Mosquitto, find_mosquitto
from twinkit.errors import ConnectorError

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (DTDL samples, C-MAPSS, SKAB) next to the repository.

    A missing folder fails the test: the data is part of the test set-up, not optional.
    """
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"shared data folder not found at {SHARED_DATA}: the tests expect the project's "
            "shared/data checkout next to the repository (../shared/data)",
            pytrace=False,
        )
    return SHARED_DATA


# --- real MQTT brokers, started on free loopback ports --------------------------------------

NATS_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin")


def _missing_binary(what: str, hint: str) -> NoReturn:
    """A broker binary is missing: fail in CI (./run.sh installs it), skip elsewhere."""
    message = f"{what} is not installed; install it with {hint} (./run.sh test does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class LoopThread:
    """An asyncio loop in a thread, for fixtures that outlive one test's ``asyncio.run``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Broker:
    """A running broker for tests: where to connect, and (for Mosquitto) its supervisor."""

    host: str
    port: int
    supervisor: Mosquitto | None = None
    loop: LoopThread | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@pytest.fixture
def mosquitto_binary() -> str:
    """The mosquitto executable: a failure in CI when it is missing, a skip elsewhere."""
    try:
        return find_mosquitto()
    except ConnectorError:
        _missing_binary("mosquitto", "sudo apt-get install mosquitto (or brew install mosquitto)")


@pytest.fixture
def mosquitto(tmp_path: Path, mosquitto_binary: str) -> Iterator[Broker]:
    """A real, supervised Mosquitto on a free loopback port with its data in tmp_path."""
    runner = LoopThread()
    supervisor = Mosquitto(tmp_path / "broker")
    try:
        runner.run(supervisor.start())
        yield Broker(supervisor.host, supervisor.port, supervisor, runner)
    finally:
        try:
            runner.run(supervisor.stop())
        finally:
            runner.close()


def _find_nats_server() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    for folder in NATS_SEARCH:
        candidate = Path(folder) / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else "(no log)"


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}:\n{_read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server not listening on {port}:\n{_read(log)}") from None
            time.sleep(0.05)


@pytest.fixture
def nats_mqtt(tmp_path: Path) -> Iterator[Broker]:
    """A real nats-server with JetStream and its MQTT (3.1.1) listener on free loopback ports."""
    binary = _find_nats_server()
    if binary is None:
        _missing_binary("nats-server", "sudo apt-get install nats-server")
    directory = tmp_path / "nats"
    directory.mkdir()
    log = directory / "nats.log"
    for attempt in range(3):
        client_port, mqtt_port = _free_port(), _free_port()
        config = directory / "nats.conf"
        config.write_text(
            f'server_name: "twinkit-test-{client_port}"\n'
            f"listen: 127.0.0.1:{client_port}\n"
            f'jetstream {{ store_dir: "{directory / "js"}" }}\n'
            # NATS redelivers an unacknowledged QoS1 message after ack_wait (30 s by default),
            # not when the session resumes; 2 s keeps the redelivery tests short.
            f'mqtt {{ listen: 127.0.0.1:{mqtt_port}, ack_wait: "2s" }}\n',
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [binary, "-c", str(config), "-l", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(mqtt_port, process, log, 15.0)
            break
        except RuntimeError:
            process.kill()
            process.wait()
            if attempt == 2:
                raise
    try:
        yield Broker("127.0.0.1", mqtt_port, process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
