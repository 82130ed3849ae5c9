"""Bearer tokens: roles per route, 401s, revocation, hashed storage, audit and causes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from api_helpers import PUMP, Api, api

from twinkit.api import Role, hash_secret

# (method, path, json body, the lowest role allowed)
ROUTES: list[tuple[str, str, Any, Role]] = [
    ("GET", "/models", None, Role.VIEWER),
    ("GET", f"/models/{PUMP}", None, Role.VIEWER),
    ("GET", "/twins", None, Role.VIEWER),
    ("GET", "/twins/pump-1", None, Role.VIEWER),
    ("GET", "/twins/pump-1/properties/speed", None, Role.VIEWER),
    ("GET", "/twins/pump-1/relationships", None, Role.VIEWER),
    ("GET", "/twins/tank-1/incoming", None, Role.VIEWER),
    ("GET", "/twins/pump-1/telemetry", None, Role.VIEWER),
    ("GET", "/twins/pump-1/telemetry/temp", None, Role.VIEWER),
    ("GET", "/twins/pump-1/events", None, Role.VIEWER),
    ("GET", "/commands/abc", None, Role.VIEWER),
    ("GET", "/dead-letters", None, Role.VIEWER),
    ("POST", "/ingest", {"twinId": "pump-1", "temp": 20.0}, Role.OPERATOR),
    ("PUT", "/twins/pump-1/properties/speed/desired", {"value": 10}, Role.OPERATOR),
    ("POST", "/twins/pump-1/properties/speed/desired", {"value": 11}, Role.OPERATOR),
    ("POST", "/twins/pump-1/commands/reboot", 1, Role.OPERATOR),
    ("POST", "/dead-letters/replay", {}, Role.OPERATOR),
    ("POST", "/models", [], Role.ADMIN),
    ("DELETE", "/models/dtmi:example:None;1", None, Role.ADMIN),
    ("PUT", "/twins/pump-x", {"model": PUMP}, Role.ADMIN),
    ("POST", "/twins", {"id": "pump-y", "model": PUMP}, Role.ADMIN),
    ("PATCH", "/twins/pump-1", [{"op": "add", "path": "/label", "value": "a"}], Role.ADMIN),
    ("POST", "/twins/pump-1/relationships", {"name": "feeds", "target": "tank-1"}, Role.ADMIN),
    ("DELETE", "/twins/pump-1/relationships/none", None, Role.ADMIN),
    ("DELETE", "/twins/nobody", None, Role.ADMIN),
    ("GET", "/tokens", None, Role.ADMIN),
    ("POST", "/tokens", {"role": "viewer"}, Role.ADMIN),
    ("DELETE", "/tokens/none", None, Role.ADMIN),
]


def scenario(tmp_path: Path, body: Callable[[Api], Awaitable[None]], **settings: Any) -> None:
    async def run() -> None:
        async with api(tmp_path, **settings) as served:
            await body(served)

    asyncio.run(run())


def test_each_role_may_do_exactly_its_routes(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        for method, path, json, lowest in ROUTES:
            for role in Role:
                kwargs = {} if json is None else {"json": json}
                answer = await a.call(method, path, role.value, **kwargs)
                where = f"{role.value} {method} {path}: {answer.text}"
                if role.allows(lowest):
                    assert answer.status_code not in (401, 403), where
                else:
                    assert answer.status_code == 403, where
                    assert answer.json()["error"] == "forbidden", where
                    assert lowest.value in answer.json()["detail"], where

    scenario(tmp_path, body)


def test_viewer_cannot_set_desired_values_or_invoke_commands(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        desired = await a.call(
            "PUT", "/twins/pump-1/properties/speed/desired", "viewer", json={"value": 5}
        )
        assert desired.status_code == 403
        command = await a.call("POST", "/twins/pump-1/commands/reboot", "viewer", json=1)
        assert command.status_code == 403
        twin = (await a.call("GET", "/twins/pump-1", "viewer")).json()
        assert twin["version"] == 1  # nothing happened

    scenario(tmp_path, body)


def test_missing_bad_and_revoked_tokens_are_401(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        for headers in (
            {},
            {"Authorization": "Bearer tk_not-a-real-token"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer"},
        ):
            answer = await a.client.get("/twins", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["error"] == "unauthenticated"
            assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert (await a.call("GET", "/twins", "viewer")).status_code == 200
        revoked = await a.call("DELETE", f"/tokens/{a.token_ids['viewer']}")
        assert revoked.status_code == 204
        answer = await a.call("GET", "/twins", "viewer")  # at once, despite the cache
        assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
        assert (await a.call("DELETE", "/tokens/nope")).status_code == 404

    scenario(tmp_path, body)


def test_revocation_by_another_process_applies_within_the_cache_time(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        assert (await a.call("GET", "/twins", "operator")).status_code == 200
        # what `twinkit token revoke` does in another process: straight to the store
        await a.services.store.revoke_token(a.token_ids["operator"], time.time())
        await asyncio.sleep(0.3)
        assert (await a.call("GET", "/twins", "operator")).status_code == 401

    scenario(tmp_path, body, token_cache_s=0.2)


def test_tokens_are_created_listed_and_stored_only_hashed(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        created = await a.call("POST", "/tokens", json={"role": "operator", "name": "line 2"})
        assert created.status_code == 201
        secret = created.json()["secret"]
        assert secret.startswith("tk_") and len(secret) >= 40
        assert (
            await a.client.get("/twins", headers={"Authorization": f"Bearer {secret}"})
        ).is_success
        listed = (await a.call("GET", "/tokens")).json()["items"]
        mine = next(t for t in listed if t["id"] == created.json()["id"])
        assert mine == {k: v for k, v in created.json().items() if k != "secret"}
        assert mine["role"] == "operator" and mine["name"] == "line 2" and mine["revoked"] is None
        assert all("secret" not in t and "hash" not in t for t in listed)
        unknown_role = await a.call("POST", "/tokens", json={"role": "root"})
        assert unknown_role.status_code == 422

        record = await a.services.store.token_by_hash(hash_secret(secret))
        assert record is not None and record.role == "operator"
        await a.services.store.close()  # flush the WAL into the file
        raw = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
        for known in [secret, *a.secrets.values()]:
            assert known.encode() not in raw
            assert known[3:].encode() not in raw
        assert hash_secret(secret) in raw

    scenario(tmp_path, body)


def test_auth_failures_are_logged_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(a: Api) -> None:
        with caplog.at_level(logging.WARNING, logger="twinkit.api"):
            await a.client.get("/twins", headers={"Authorization": "Bearer tk_guessed-secret"})
            await a.call("POST", "/models", "viewer", json=[])
            await a.client.get("/dead-letters")
        lines = [r.getMessage() for r in caplog.records if "auth failed" in r.getMessage()]
        assert len(lines) == 3, lines
        assert "token=anonymous" in lines[0] and "unknown token" in lines[0]
        assert f"token={a.token_ids['viewer']}" in lines[1] and "POST /api/v1/models" in lines[1]
        assert "no bearer token" in lines[2]
        text = caplog.text
        assert "guessed-secret" not in text
        assert all(secret not in text for secret in a.secrets.values())

    scenario(tmp_path, body)


def test_events_record_the_token_id_as_cause(tmp_path: Path) -> None:
    async def body(a: Api) -> None:
        await a.with_pumps()
        await a.call("PUT", "/twins/pump-1/properties/speed/desired", "operator", json={"value": 3})
        events = (await a.call("GET", "/twins/pump-1/events", "viewer")).json()["items"]
        assert [(e["type"], e["cause"]) for e in events] == [
            ("TwinCreated", f"token:{a.token_ids['admin']}"),
            ("DesiredPropertySet", f"token:{a.token_ids['operator']}"),
        ]

    scenario(tmp_path, body)
