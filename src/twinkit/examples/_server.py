"""What every demo does around its devices: listen, serve the API (and the dashboard when asked
for and installed), wait for the server, stop on signals, tell the user how to call twinkit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import uvicorn

from twinkit.api import Services, create_app
from twinkit.api._serve import ApiServer, bind
from twinkit.api._settings import Settings
from twinkit.errors import ConflictError, TwinkitError, ValidationError
from twinkit.ui import dashboard_available, mount_dashboard

__all__ = [
    "START_TIMEOUT_S",
    "broker_url",
    "demo_server",
    "listen",
    "say_progress",
    "shell_path",
    "stop_on_signals",
    "twinkit_command",
    "wait_for_stop",
    "wait_started",
]

logger = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 30.0
"""How long a demo waits for its server to start."""


def demo_server(services: Services, *, dashboard: bool) -> tuple[ApiServer, bool]:
    """The uvicorn server of a demo over ``services`` and whether it serves the dashboard
    (``dashboard`` asked for and NiceGUI installed; once per process, see mount_dashboard)."""
    app = create_app(services)
    mounted = dashboard and dashboard_available()
    if dashboard and not mounted:
        logger.warning("dashboard off: its packages are missing; pip install 'twinkit[ui]'")
    if mounted:
        mount_dashboard(app, services)
    config = uvicorn.Config(
        app, log_level="info", lifespan="on" if mounted else "off", access_log=False
    )
    return ApiServer(config), mounted


async def wait_for_stop(
    stop: asyncio.Event, serving: asyncio.Task[None], duration: float | None
) -> None:
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {stopping, serving}, timeout=duration, return_when=asyncio.FIRST_COMPLETED
    )
    stopping.cancel()
    if serving in done:
        logger.error("the API server stopped by itself; stopping the demo")
    elif not done:
        logger.info("demo ran its %g s; stopping", duration)


def twinkit_command() -> str:
    """How to call ``twinkit`` from here: the bare name when PATH finds this installation,
    else the console script next to this interpreter (``.venv/bin/twinkit``)."""
    script = Path(sys.executable).with_name("twinkit")
    found = shutil.which("twinkit")
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return "twinkit"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, say: Callable[[str], None]) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM while inside (main thread only; elsewhere the caller
    stops the demo through ``stop``)."""
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        yield
        return

    def requested(name: str) -> None:
        if stop.is_set():
            say(f"{name} again: already stopping, please wait")
            return
        say(f"{name}: stopping devices, server, connector, broker and store")
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, requested, sig.name)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def listen(settings: Settings) -> socket.socket:
    try:
        return bind(settings.host, settings.port)
    except OSError as err:
        raise ConflictError(
            f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}; "
            "pass another --port (0 picks a free one)",
            where="--port",
        ) from err


def broker_url(services: Services) -> str:
    if services.broker is not None:
        return services.broker.url
    url = services.settings.mqtt_url
    if url is None:  # Services.open with mqtt=True always gives one or the other
        raise ValidationError("the demo needs MQTT", path="mqtt_url", expected="a URL", got=None)
    return url


async def wait_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
            raise TwinkitError("the API server stopped during start-up (see the log above)")
        if loop.time() > deadline:
            raise TwinkitError(f"the API server did not start within {START_TIMEOUT_S:g} s")
        await asyncio.sleep(0.02)


def shell_path(path: Path) -> str:
    return shlex.quote(str(path))


def say_progress(say: Callable[[str], None], what: str) -> Callable[[float], None]:
    """A progress callback that says ``what: NN%`` in tenths (long training at a demo's start)."""
    shown = [-1]

    def report(fraction: float) -> None:
        tenth = int(fraction * 10 + 1e-9)
        if tenth > shown[0]:
            shown[0] = tenth
            say(f"  {what}: {tenth * 10}%")

    return report
