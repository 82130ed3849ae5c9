"""The supervised Mosquitto: configuration, restarts after a crash, clear errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest
from connect_helpers import wait_until

from twinkit.connect import Mosquitto
from twinkit.connect import _mosquitto as module
from twinkit.errors import ConnectorError

pytestmark = pytest.mark.integration


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_config_keeps_sessions_and_raises_the_limits(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, port=18830)
    text = broker.config()
    assert "listener 18830 127.0.0.1" in text
    assert "persistence true" in text
    assert f"persistence_location {tmp_path / 'mosquitto'}/" in text
    assert "max_queued_messages 1000000" in text and "max_inflight_messages 1000" in text
    assert f"log_dest file {tmp_path / 'mosquitto' / 'mosquitto.log'}" in text


@pytest.mark.usefixtures("mosquitto_binary")
def test_restarts_a_killed_broker_on_the_same_port(tmp_path: Path) -> None:

    async def scenario() -> None:
        async with Mosquitto(tmp_path) as broker:
            port, pid = broker.port, broker.pid
            assert pid is not None and accepts(port)
            assert (tmp_path / "mosquitto" / "mosquitto.conf").is_file()
            os.kill(pid, signal.SIGKILL)
            await wait_until(lambda: broker.restarts == 1, timeout=15, what="restart")
            assert broker.pid not in (None, pid)
            assert broker.port == port and await asyncio.to_thread(accepts, port)
        assert not accepts(port)  # stopped for good: no more restarts
        assert broker.pid is None

    asyncio.run(scenario())


def test_missing_binary_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(module, "_SEARCH", (str(tmp_path),))
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(Mosquitto(tmp_path).start())
    message = str(caught.value)
    assert "sudo apt-get install mosquitto" in message
    assert "brew install mosquitto" in message
    assert "--mqtt-url" in message


@pytest.mark.usefixtures("mosquitto_binary")
def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConnectorError, match="exited with status") as caught:
            asyncio.run(Mosquitto(tmp_path, port=port).start())
    assert "Address already in use" in str(caught.value)
