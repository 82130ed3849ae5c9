"""Running the server in-process: services, the first admin token, uvicorn on a bound socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from twinkit.api._app import API_PREFIX, create_app
from twinkit.api._auth import Role, issue_token
from twinkit.api._services import Services
from twinkit.api._settings import Settings
from twinkit.sim._binding import SimulationBinding

__all__ = ["ApiServer", "bind", "ensure_admin_token", "serve"]

logger = logging.getLogger(__name__)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), replacing it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


async def ensure_admin_token(services: Services) -> str | None:
    """On a store without tokens, create an admin token, keep its secret in
    ``<data>/admin-token`` (mode 0600) and return it; None when tokens exist."""
    if await services.store.tokens():
        return None
    record, secret = await issue_token(
        services.store, Role.ADMIN, "admin (first start)", clock=services.clock
    )
    _write_private(services.settings.admin_token_file, secret + "\n")
    logger.info("created admin token %s on first start", record.id)
    return secret


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), inheritable by uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def serve(
    settings: Settings,
    *,
    say: Callable[[str], None],
    bindings: Iterable[SimulationBinding] = (),
    factories: Mapping[str, Any] | None = None,
    mount: Callable[[FastAPI, Services], None] | None = None,
) -> None:
    """Open the services (with shadow mode for ``bindings``, and ``factories`` of models to
    train beside the installed ones), serve the API until interrupted (SIGINT/SIGTERM), then
    close. ``mount`` adds more to the app (the CLI mounts the dashboard: the ui layer sits
    below this one)."""
    services = await Services.open(settings, bindings=bindings)
    services.predictions.factories.update(factories or {})
    try:
        secret = await ensure_admin_token(services)
        sock = bind(settings.host, settings.port)
        host, port = sock.getsockname()[:2]
        base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        app = create_app(services)
        if mount is not None:
            mount(app, services)
        config = uvicorn.Config(
            app, log_level="info", lifespan="on" if mount else "off", access_log=False
        )
        server = ApiServer(config)
        if secret is not None:
            say(f"admin token (shown once, also in {settings.admin_token_file}): {secret}")
        say(f"twinkit serving {settings.data_dir} on {base}")
        say(f"  API      {base}{API_PREFIX}")
        if mount is not None:
            say(f"  dashboard {base}/ui")
        say(f"  docs     {base}/docs")
        say(f"  stream   ws://{base.removeprefix('http://')}{API_PREFIX}/stream")
        state = services.connector_state()
        if state is not None:
            say(
                f"  MQTT     {state['url']}"
                + (" (supervised mosquitto)" if services.broker else "")
            )
        if services.shadow is not None:
            say(f"  shadow   {len(services.bindings)} simulation binding(s)")
        with _exit_on_signals(server):
            await server.serve(sockets=[sock])
    finally:
        await services.close()


class ApiServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to its owner.

    uvicorn's own handlers re-raise the signal once it has stopped serving, which kills the
    process before the services close (connector, broker, store); the owner sets
    ``should_exit`` instead and closes everything in order.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _exit_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """Stop ``server`` on SIGINT/SIGTERM while inside (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)

    def stop(name: str) -> None:
        logger.info("%s: stopping the server, connector, broker and store", name)
        server.should_exit = True

    for sig in handled:
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
