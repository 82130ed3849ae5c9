"""``twinkit demo bracket``: wired into the CLI, and live end to end on a small bracket."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from bracket_helpers import SMALL, TWIN
from click.testing import CliRunner

from twinkit.api import Settings
from twinkit.cli import cli
from twinkit.core import Runtime
from twinkit.errors import ConflictError
from twinkit.examples.bracket import (
    BRACKET,
    BracketDemoOptions,
    BracketRom,
    Crack,
    install_bracket,
    run_bracket_demo,
)
from twinkit.store import SQLiteStore


def test_the_command_is_wired_and_a_taken_port_fails_before_anything_starts(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["demo", "bracket", "--state", str(state), "--port", str(port)]
        )
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert not state.exists()  # nothing was opened, no ROM trained
    helped = CliRunner().invoke(cli, ["demo", "bracket", "--help"])
    assert helped.exit_code == 0 and "--crack-at" in helped.output and "--cache" in helped.output
    refused = CliRunner().invoke(cli, ["demo", "bracket", "--crack-severity", "1.5"])
    assert refused.exit_code == 2 and "crack-severity" in refused.output


def test_install_adds_the_model_and_twin_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            assert await install_bracket(runtime, SMALL, TWIN)
            twin = runtime.get(TWIN)
            assert twin.model == BRACKET and twin.reported("length") == 800.0
            assert twin.reported("yieldStrength") == SMALL.yield_strength
            assert not await install_bracket(runtime, SMALL, TWIN)  # nothing new
            assert runtime.get(TWIN).version == twin.version
            await runtime.close()

    asyncio.run(main())


def test_a_state_with_another_twin_of_that_id_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with await SQLiteStore.open(tmp_path / "twins.db") as store:
            runtime = await Runtime.open(store)
            await runtime.add_models(
                [
                    {
                        "@context": "dtmi:dtdl:context;3",
                        "@id": "dtmi:test:Other;1",
                        "@type": "Interface",
                        "contents": [],
                    }
                ]
            )
            await runtime.create_twin(TWIN, "dtmi:test:Other;1", cause="test")
            with pytest.raises(ConflictError, match="another --state folder"):
                await install_bracket(runtime, SMALL, TWIN)
            await runtime.close()

    asyncio.run(main())


async def _until(check: Any, what: str, timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.integration
@pytest.mark.usefixtures("mosquitto_binary")
def test_the_demo_runs_the_structural_twin_live(
    tmp_path: Path, small_rom: BracketRom, rom_cache: Path
) -> None:
    lines: list[str] = []
    state = tmp_path / "state"
    options = BracketDemoOptions(
        Settings(data_dir=state, port=0),
        spec=SMALL,
        speedup=5.0,
        crack=Crack(start=0.0, severity=0.6, growth=0.0),
        cache_dir=rom_cache,
        duration=60.0,
    )

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        demo = asyncio.create_task(run_bracket_demo(options, say=lines.append, stop=stop))

        async def started() -> str | None:
            if demo.done():
                demo.result()
            found = [m.group(1) for line in lines if (m := re.match(r"\s+API\s+(\S+)", line))]
            ready = found and any(line.startswith("The demo stops") for line in lines)
            return found[0] if ready else None

        try:
            api = await _until(started, "the demo's banner", timeout=60)
            token = (state / "admin-token").read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as client:

                async def cracked() -> dict[str, Any] | None:
                    body = (await client.get(f"/twins/{TWIN}/shadow")).json()
                    (shadow,) = body["shadows"]
                    top = shadow["residuals"].get("strainRootTop", 0.0)
                    return shadow if top > 50.0 else None  # µε: the crack under load

                shadow = await _until(cracked, "the crack to show in the residual")
                twin = (await client.get(f"/twins/{TWIN}")).json()
        finally:
            stop.set()
            await demo
        return {"shadow": shadow, "twin": twin}

    seen = asyncio.run(main())
    output = "\n".join(lines)
    assert "ROM loaded in" in output  # trained by the fixture, loaded from the cache
    assert "a crack near the wall from t=0 s" in output and "supervised mosquitto" in output
    assert seen["shadow"]["state"] == "running" and seen["shadow"]["failures"] == 0
    assert seen["shadow"]["simulated"]["tipDeflection"] > 0.1  # mm, under the lifted load
    assert seen["twin"]["properties"]["ratedLoad"]["reported"] == SMALL.rated_load
    timing = next(line for line in lines if line.startswith("ROM: "))
    assert re.search(r"ROM: [\d,]+ load updates, [\d.]+ µs median", timing), timing
    assert lines[-1] == "twinkit demo stopped"
