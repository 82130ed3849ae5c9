"""``twinkit alert ls|ack|clear`` against a served API: tables and JSON, roles, and an alert
that is not open exits 1 with what was expected."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import twinkit.cli._alert  # noqa: F401  (registers `twinkit alert` until the CLI imports it)
from twinkit.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_helpers import MODELS, PUMP, TANK, LiveServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "data") as live:
        assert live.services is not None
        runtime = live.services.runtime

        async def prepare() -> None:
            await runtime.add_models(MODELS)
            await runtime.create_twin("pump-1", PUMP, cause="token:admin")
            await runtime.create_twin("tank-1", TANK, cause="token:admin")
            await runtime.raise_alert(
                "pump-1", "hot", "bearing at 95 °C", cause="rule:t", severity="critical"
            )
            await runtime.raise_alert("tank-1", "low", "level 0.2 m", cause="rule:level")

        live.run_in_loop(prepare())
        yield live


def run(server: LiveServer, *args: str, role: str = "operator") -> tuple[int, str, str]:
    options = ["--url", server.url, "--token", server.secrets[role]]
    result = CliRunner().invoke(cli, ["alert", *args, *options], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_list_acknowledge_and_clear(server: LiveServer) -> None:
    code, out, err = run(server, "ls", role="viewer")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["RAISED", "TWIN", "NAME", "SEVERITY", "ACK", "MESSAGE"]
    assert "tank-1" in lines[1] and "low" in lines[1] and "pump-1" in lines[2]
    assert "2 open alert(s)" in err
    code, out, _ = run(server, "ls", "--severity", "critical", "--json", role="viewer")
    assert code == 0 and [a["name"] for a in json.loads(out)] == ["hot"]
    code, out, _ = run(server, "ls", "--twin", "tank-1", "--json", role="viewer")
    assert [a["twinId"] for a in json.loads(out)] == ["tank-1"]

    code, out, err = run(server, "ack", "pump-1", "hot", "--note", "on my way")
    assert code == 0, err
    assert out.strip() == "acknowledged pump-1/hot (critical): bearing at 95 °C"
    code, out, _ = run(server, "ls", "--twin", "pump-1", role="viewer")
    assert f"token:{server.token_ids['operator']}" in out  # who acknowledged it

    code, out, err = run(server, "clear", "pump-1", "hot", "--message", "bearing replaced")
    assert code == 0, err
    assert out.startswith("cleared pump-1/hot (event ")
    code, _, err = run(server, "clear", "pump-1", "hot")
    assert code == 1 and "cannot clear alert 'hot' of twin 'pump-1'" in err
    code, _, err = run(server, "clear", "tank-1", "low", role="viewer")
    assert code == 1 and "operator" in err
    code, out, _ = run(server, "ls", "--json", role="viewer")
    assert [a["name"] for a in json.loads(out)] == ["low"]


def test_a_bad_severity_is_refused_before_any_request() -> None:
    result = CliRunner().invoke(cli, ["alert", "ls", "--severity", "loud", "--token", "x"])
    assert result.exit_code == 2 and "critical" in result.output
