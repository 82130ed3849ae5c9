"""Helpers of the API tests: the app over a real SQLite store and runtime, in-process (ASGI) or
served by uvicorn on a real loopback socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from twinkit.api import Role, Services, Settings, create_app, issue_token
from twinkit.core import Runtime
from twinkit.store import SQLiteStore

PUMP = "dtmi:example:Pump;1"
TANK = "dtmi:example:Tank;1"
MODELS: list[dict[str, Any]] = [
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": PUMP,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
            {"@type": "Property", "name": "label", "schema": "string"},
            {"@type": "Telemetry", "name": "temp", "schema": "double"},
            {
                "@type": "Command",
                "name": "reboot",
                "request": {"name": "delay", "schema": "integer"},
                "response": {"name": "ok", "schema": "boolean"},
            },
            {"@type": "Relationship", "name": "feeds", "target": TANK},
        ],
    },
    {
        "@context": "dtmi:dtdl:context;3",
        "@id": TANK,
        "@type": "Interface",
        "contents": [{"@type": "Telemetry", "name": "level", "schema": "double"}],
    },
]


@dataclass
class Api:
    """A served API: its services, a client, and one token secret per role."""

    services: Services
    client: httpx.AsyncClient
    secrets: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[role]}"}

    async def call(
        self, method: str, path: str, role: str = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.auth(role), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def with_pumps(self) -> None:
        """Upload the models and create pump-1 and tank-1."""
        assert (await self.call("POST", "/models", json=MODELS)).status_code == 201
        answer = await self.call("PUT", "/twins/pump-1", json={"model": PUMP})
        assert answer.status_code == 201, answer.text
        answer = await self.call("PUT", "/twins/tank-1", json={"model": TANK})
        assert answer.status_code == 201, answer.text


async def open_services(data_dir: Path, **settings: Any) -> Services:
    config = Settings(data_dir=data_dir, **settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = await SQLiteStore.open(config.database)
    runtime = await Runtime.open(store)
    return Services(config, store, runtime)


async def add_tokens(services: Services) -> tuple[dict[str, str], dict[str, str]]:
    secrets, ids = {}, {}
    for role in Role:
        record, secret = await issue_token(services.store, role, f"test {role.value}")
        secrets[role.value], ids[role.value] = secret, record.id
    return secrets, ids


@contextlib.asynccontextmanager
async def api(tmp_path: Path, **settings: Any) -> AsyncIterator[Api]:
    """The app over ASGI (no socket), with a token of each role."""
    services = await open_services(tmp_path / "data", **settings)
    try:
        secrets, ids = await add_tokens(services)
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://twinkit.test/api/v1"
        ) as client:
            yield Api(services, client, secrets, ids)
    finally:
        await services.close()


class LiveServer:
    """The app served by uvicorn on a free loopback port, in a thread with its own loop."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.secrets: dict[str, str] = {}
        self.token_ids: dict[str, str] = {}
        self.port = 0
        self.services: Services | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="twinkit-test-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # reported to the test thread
            self._error = err
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        services = self.services = await open_services(self.data_dir, **self.settings)
        try:
            self.secrets, self.token_ids = await add_tokens(services)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(create_app(services), lifespan="off", log_level="warning")
            self._server = uvicorn.Server(config)
            self._ready.set()
            await self._server.serve(sockets=[sock])
        finally:
            await services.close()

    def run_in_loop(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (to touch its runtime) and wait for it."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        for _ in range(300):  # until uvicorn accepts connections
            if self._server is not None and self._server.started:
                break
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)
