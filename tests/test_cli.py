"""The ``twinkit`` command as a user runs it: models, serve, tokens and the HTTP client commands."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from click.testing import CliRunner
from websockets.sync.client import connect as connect_ws

from twinkit.cli import cli
from twinkit.model.dtdl import parse

GOOD = {
    "@context": "dtmi:dtdl:context;2",
    "@id": "dtmi:example:Tank;1",
    "@type": "Interface",
    "contents": [
        {"@type": ["Telemetry", "Length"], "name": "level", "schema": "double", "unit": "metre"},
        {"@type": "Property", "name": "capacity", "schema": "double", "writable": True},
    ],
}
BAD = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:example:Valve;1",
    "@type": "Interface",
    "contents": [{"@type": "Telemetry", "name": "flow", "schema": "dubble"}],
}


def write(folder: Path, name: str, doc: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


def test_validate_accepts_a_folder_of_valid_models(tmp_path: Path) -> None:
    write(tmp_path, "tank.json", GOOD)
    result = CliRunner().invoke(cli, ["models", "validate", str(tmp_path)])
    assert result.exit_code == 0
    assert "valid: 1 interface" in result.output


def test_validate_lists_every_error_as_file_element_message(tmp_path: Path) -> None:
    good = write(tmp_path, "tank.json", GOOD)
    bad = write(tmp_path, "valve.json", BAD)
    result = CliRunner().invoke(cli, ["models", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: /contents/0 (flow): schema: expected a schema" in result.output
    assert "'dubble'" in result.output


def test_validate_json_report(tmp_path: Path) -> None:
    write(tmp_path, "valve.json", BAD)
    result = CliRunner().invoke(cli, ["models", "validate", "--json", str(tmp_path)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False and report["interfaces"] == 0
    assert report["errors"][0]["element"] == "/contents/0 (flow)"
    assert report["errors"][0]["file"].endswith("valve.json")

    ok = tmp_path / "ok"
    ok.mkdir()
    write(ok, "tank.json", GOOD)
    result = CliRunner().invoke(cli, ["models", "validate", "--json", str(ok)])
    assert json.loads(result.output) == {"valid": True, "interfaces": 1, "errors": []}


def test_validate_with_nothing_to_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["models", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no .json files found" in result.output


def test_export_writes_dtdl_v3_that_parses_back_equal(tmp_path: Path) -> None:
    source = write(tmp_path, "tank.json", GOOD)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        cli, ["models", "export", str(source), "--format", "dtdl3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert "dtmi:dtdl:context;3" in json.dumps(exported[0]["@context"])
    assert parse([out]) == parse([source])


def test_console_script_runs(tmp_path: Path) -> None:
    write(tmp_path, "valve.json", BAD)
    script = Path(sys.executable).with_name("twinkit")
    done = subprocess.run(
        [str(script), "models", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "dubble" in done.stdout


# --- the server and its HTTP clients ---------------------------------------------------------

PUMP_MODEL = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:example:Pump;1",
    "@type": "Interface",
    "contents": [
        {"@type": "Property", "name": "speed", "schema": "double", "writable": True},
        {"@type": "Telemetry", "name": "temp", "schema": "double"},
    ],
}


class Served:
    """``twinkit serve --port 0`` as a subprocess; the URL is read from what it prints."""

    def __init__(self, data: Path) -> None:
        script = Path(sys.executable).with_name("twinkit")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TWINKIT_TOKEN", None)
        self.process = subprocess.Popen(
            [str(script), "serve", "--data", str(data), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.url = ""
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(r"twinkit serving .* on (http://\S+)", line)
            if found:
                self.url = found.group(1)
            if self.url and "/api/v1/stream" in line:  # the last address printed
                break
        assert self.url, "serve did not start:\n" + "".join(self.lines)
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def test_token_create_serve_and_http_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    served = Served(data)
    try:
        token_file = data / "admin-token"
        admin = token_file.read_text().strip()
        assert admin.startswith("tk_") and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        printed = "".join(served.lines)
        assert admin in printed and "/docs" in printed and "/api/v1/stream" in printed
        health = httpx.get(served.url + "/api/v1/health", timeout=10).json()
        assert health["connector"]["connected"] is True  # the supervised Mosquitto

        # a viewer token, made offline on the data folder while the server runs
        made = CliRunner().invoke(
            cli, ["token", "create", "--role", "viewer", "--name", "ci", "--data", str(data)]
        )
        assert made.exit_code == 0, made.output
        viewer = made.stdout.strip().splitlines()[-1]
        assert viewer.startswith("tk_") and viewer != admin

        with httpx.Client(
            base_url=served.url + "/api/v1", headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            assert client.post("/models", json=PUMP_MODEL).status_code == 201
            twin = {"model": "dtmi:example:Pump;1"}
            assert client.put("/twins/pump-1", json=twin).status_code == 201
            bad = b'{"twinId": "pump-1", "temp": "hot"}'
            ingest = client.post(
                "/ingest", content=bad, headers={"Content-Type": "application/json"}
            )
            assert ingest.status_code == 422

        common = ["--url", served.url, "--token", viewer]
        listed = CliRunner().invoke(cli, ["twin", "ls", *common])
        assert listed.exit_code == 0, listed.output
        assert listed.output.splitlines()[0].split() == ["ID", "MODEL", "VERSION", "PROPERTIES"]
        assert "pump-1" in listed.output and "dtmi:example:Pump;1" in listed.output
        as_json = CliRunner().invoke(cli, ["twin", "ls", *common, "--json"])
        assert json.loads(as_json.output)[0]["id"] == "pump-1"

        refused = CliRunner().invoke(
            cli, ["twin", "set-desired", "pump-1", "speed", "900", *common]
        )
        assert refused.exit_code == 1 and "403 forbidden" in refused.output
        admin_args = ["--url", served.url, "--token", admin]
        done = CliRunner().invoke(
            cli, ["twin", "set-desired", "pump-1", "speed", "900", *admin_args]
        )
        assert done.exit_code == 0, done.output
        assert "desired 900.0 (version 1)" in done.output and "in sync: no" in done.output
        got = CliRunner().invoke(cli, ["twin", "get", "pump-1", *common])
        assert "speed" in got.output and "900.0" in got.output

        letters = CliRunner().invoke(cli, ["dead-letter", "ls", *common])
        assert letters.exit_code == 0 and "http:/api/v1/ingest" in letters.output
        replay = CliRunner().invoke(cli, ["dead-letter", "replay", *admin_args])
        assert replay.exit_code == 0 and "still failing: 1" in replay.output

        stream = served.url.replace("http://", "ws://") + f"/api/v1/stream?token={viewer}"
        with connect_ws(stream) as ws:
            ws.ping()

        _history_commands(served.url, admin, common)

        wrong = CliRunner().invoke(cli, ["twin", "ls", "--url", served.url, "--token", "tk_x"])
        assert wrong.exit_code == 1 and "401 unauthenticated" in wrong.output
    finally:
        assert served.stop() == 0, "".join(served.lines)
    output = "".join(served.lines)
    assert output.count(admin) == 1  # the secret is printed once only
    assert "WebSocket /api/v1/stream?token=<redacted>" in output
    assert viewer not in output

    down = CliRunner().invoke(cli, ["twin", "ls", "--url", served.url, "--token", viewer])
    assert down.exit_code == 1 and "cannot reach twinkit" in down.output
    missing = CliRunner(env={"TWINKIT_TOKEN": ""}).invoke(cli, ["twin", "ls", "--url", served.url])
    assert missing.exit_code == 1 and "no token" in missing.output


def _history_commands(url: str, admin: str, viewer_args: list[str]) -> None:
    """query, series, as-of, diff and history against the served pump-1."""
    with httpx.Client(
        base_url=url + "/api/v1", headers={"Authorization": f"Bearer {admin}"}
    ) as client:
        records = "\n".join(
            json.dumps({"twinId": "pump-1", "ts": 1_700_000_000 + i, "values": {"temp": i}})
            for i in range(10)
        )
        sent = client.post(
            "/ingest", content=records, headers={"Content-Type": "application/x-ndjson"}
        )
        assert sent.status_code == 200, sent.text
    found = CliRunner().invoke(
        cli, ["query", "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'pump-1'", *viewer_args]
    )
    assert found.exit_code == 0, found.output
    assert "pump-1" in found.output and "(1 rows)" in found.output
    bad = CliRunner().invoke(cli, ["query", "SELECT T FROM", *viewer_args])
    assert bad.exit_code == 1 and "line 1, column" in bad.output
    window = ["--start", "1700000000", "--end", "1700000010"]
    raw = CliRunner().invoke(cli, ["series", "pump-1", "temp", *window, *viewer_args, "--json"])
    assert raw.exit_code == 0, raw.output
    assert [p["value"] for p in json.loads(raw.output)] == [float(i) for i in range(10)]
    buckets = CliRunner().invoke(
        cli, ["series", "pump-1", "temp", *window, "--width", "5", "--agg", "max", *viewer_args]
    )
    assert buckets.exit_code == 0 and "9.0" in buckets.output
    now = str(time.time() + 1)
    graph = CliRunner().invoke(cli, ["as-of", now, *viewer_args])
    assert graph.exit_code == 0 and "pump-1" in graph.output
    gone = CliRunner().invoke(cli, ["as-of", "1000", "--twin", "pump-1", *viewer_args])
    assert gone.exit_code == 1 and "did not exist" in gone.output
    changed = CliRunner().invoke(cli, ["diff", "0", now, *viewer_args])
    assert changed.exit_code == 0 and "twin_created" in changed.output
    history = CliRunner().invoke(cli, ["history", "pump-1", "speed", *viewer_args])
    assert history.exit_code == 0 and "desired" in history.output and "token:" in history.output


def test_serve_reuses_existing_tokens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = CliRunner().invoke(cli, ["token", "create", "--role", "admin", "--data", str(data)])
    assert made.exit_code == 0, made.output
    served = Served(data)
    assert served.stop() == 0
    assert not (data / "admin-token").exists()
    assert "admin token" not in "".join(served.lines)
    listed = CliRunner().invoke(cli, ["token", "ls", "--data", str(data), "--json"])
    assert [t["role"] for t in json.loads(listed.output)] == ["admin"]
    revoked = CliRunner().invoke(
        cli, ["token", "revoke", json.loads(listed.output)[0]["id"], "--data", str(data)]
    )
    assert revoked.exit_code == 0
    listed = CliRunner().invoke(cli, ["token", "ls", "--data", str(data), "--json"])
    assert json.loads(listed.output)[0]["revoked"] is not None
