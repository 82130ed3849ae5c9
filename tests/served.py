"""``twinkit serve`` as a real child process, for tests that drive it from outside (fault tests,
the dashboard's browser tests): started the way an operator starts it, read back from what it
prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Server", "settle", "wait_for"]


def settle(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` s have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout`` s."""
    if not settle(condition, timeout):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Server:
    """``twinkit serve --port 0 [--mqtt-url URL]`` as a child process, the way an operator runs it.

    The URL is read from what it prints; the admin token from ``<data>/admin-token``, which the
    first start writes. Everything it prints (logs included) is kept in :attr:`lines`.
    """

    def __init__(
        self,
        data: Path,
        mqtt_url: str | None = None,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
        args: Sequence[str] = (),
    ) -> None:
        self.data = data
        script = Path(sys.executable).with_name("twinkit")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TWINKIT_")}
        env = {**clean, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                str(script),
                "serve",
                "--data",
                str(data),
                "--port",
                "0",
                *_broker(mqtt_url),
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.url = ""
        self.mqtt_url = ""  # the broker it uses, as its banner says
        try:
            self._read_banner(timeout)
        except BaseException:
            self.kill()
            raise
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        self.token = (data / "admin-token").read_text(encoding="utf-8").strip()

    def _read_banner(self, timeout: float) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(r"twinkit serving .* on (http://\S+)", line)
            if found:
                self.url = found.group(1)
            if self.url and "MQTT" in line:  # the broker line is the last one printed
                broker = re.search(r"(mqtt://\S+)", line)
                self.mqtt_url = broker.group(1) if broker else ""
                return
            if "refused connector" in line:  # it would retry until its 10 s connect timeout
                break
        raise AssertionError(
            f"twinkit serve did not start (exit status {self.process.poll()}); it printed:\n"
            + "".join(self.lines)
        )

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def client(self) -> httpx.Client:
        """An HTTP client of the API with the admin token."""
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def connector(self) -> dict[str, Any]:
        """The MQTT connector's state and counters from ``/health``."""
        answer = httpx.get(self.url + "/api/v1/health", timeout=10)
        answer.raise_for_status()
        state = answer.json()["connector"]
        assert state is not None, "the server runs without an MQTT connector"
        return dict(state)

    def wait_accepted(self, count: int, timeout: float) -> None:
        """Wait until this process's connector has accepted ``count`` messages."""
        wait_for(
            lambda: self.connector()["accepted"] >= count, timeout, f"{count} messages accepted"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """Stop it as Ctrl-C does; returns the exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)

    def close(self) -> None:
        """Make sure the process is gone (for ``finally`` blocks)."""
        if self.process.poll() is None:
            self.kill()


def _broker(mqtt_url: str | None) -> list[str]:
    """The broker arguments: a given broker, or none (the server supervises its own)."""
    return [] if mqtt_url is None else ["--mqtt-url", mqtt_url]
