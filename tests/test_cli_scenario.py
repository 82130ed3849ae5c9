"""``twinkit scenario`` end to end: a served app with the plant's simulators, driven by the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from scenario_plant import build_plant, tank_level
from twinkit.api import Settings
from twinkit.cli import cli
from twinkit.cli._scenario import build_spec
from twinkit.core import Runtime
from twinkit.store import SQLiteStore

TESTS = Path(__file__).resolve().parent


async def prepare(data: Path, t0: float) -> None:
    """The plant's models, twins and measurements in the data folder, before serving."""
    settings = Settings(data_dir=data)
    data.mkdir(parents=True)
    async with await SQLiteStore.open(settings.database) as store:
        runtime = await Runtime.open(store, clock=lambda: t0 - 10)
        await build_plant(runtime, t0)
        await runtime.close()


class Served:
    """``twinkit serve --port 0 --simulators scenario_plant:serve_bindings`` as a subprocess."""

    def __init__(self, data: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        env.pop("TWINKIT_TOKEN", None)
        script = Path(sys.executable).with_name("twinkit")
        command = [str(script), "serve", "--data", str(data), "--port", "0"]
        command += ["--simulators", "scenario_plant:serve_bindings"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
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
            if self.url and "/api/v1/stream" in line:
                break
        assert self.url, "serve did not start:\n" + "".join(self.lines)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, float, Path]]:
    t0 = time.time() - 10_000
    data = tmp_path / "data"
    asyncio.run(prepare(data, t0))
    server = Served(data)
    try:
        yield server, t0, data
    finally:
        assert server.stop() == 0, "".join(server.lines)


def invoke(*args: str) -> tuple[int, str]:
    """Exit code and stdout, or everything printed (stderr too) when the command failed."""
    result = CliRunner().invoke(cli, ["scenario", *args])
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_run_show_compare_plot_cancel_rm(
    served: tuple[Served, float, Path], tmp_path: Path
) -> None:
    server, t0, data = served
    admin = ["--url", server.url, "--token", (data / "admin-token").read_text().strip()]
    made = CliRunner().invoke(cli, ["token", "create", "--role", "viewer", "--data", str(data)])
    viewer = ["--url", server.url, "--token", made.stdout.strip().splitlines()[-1]]

    at = str(t0 + 50)
    clog = ["--name", "clog", "--root", "tank-1", "--at", at, "--horizon", "600", "--dt", "10"]
    clog += ["--fault", "tank-1.outletK*0.5@300"]
    code, output = invoke("run", *clog, *viewer)
    assert code == 1 and "403 forbidden" in output
    code, output = invoke("run", *clog, "--wait", *admin)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "PROGRESS", "AT", "HORIZON", "ROOTS", "ERROR"]
    assert lines[-1].split()[:3] == ["clog", "done", "100%"]

    code, output = invoke("show", "clog", *viewer)
    assert code == 0, output
    assert "tank-1/level" in output and "multiplier" in output and "done" in output

    code, output = invoke("compare", "clog", "tank-1", "level", "--json", *viewer)
    assert code == 0, output
    rows = json.loads(output)
    assert len(rows) == 61 and set(rows[0]) == {"time", "scenario", "reality", "difference"}
    # as of t0 + 50 the tank is at 2 m with 1.5 flowing in; its outlet halves at 300 s
    h300 = tank_level(300, 2.0, 1.5)
    expected = [
        tank_level(t, 2.0, 1.5) if t <= 300 else tank_level(t - 300, h300, 1.5, k=0.25)
        for t in range(0, 601, 10)
    ]
    np.testing.assert_allclose([r["scenario"] for r in rows], expected, rtol=1e-9)
    assert [r["reality"] for r in rows[:5]] == [2.0] * 5 and rows[5]["reality"] == 5.0

    code, output = invoke("compare", "clog", "tank-1", "level", "--buckets", "6", *viewer)
    assert code == 0 and output.splitlines()[0].split() == [
        "TIME",
        "SCENARIO",
        "REALITY",
        "DIFFERENCE",
    ]
    assert len(output.splitlines()) == 7
    picture = tmp_path / "clog.png"
    code, output = invoke("compare", "clog", "tank-1", "level", "--plot", str(picture), *viewer)
    assert code == 0 and f"wrote {picture}" in output
    assert picture.read_bytes()[:4] == b"\x89PNG"

    # a spec file with a typo names the field; a diverging run exits 1 with its error
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "typo", "roots": ["tank-1"], "horizon": 60, "colour": 1}))
    code, output = invoke("run", str(spec), *admin)
    assert code == 1 and "422 validation" in output and "at: colour" in output
    spec.write_text(json.dumps({"name": "boom", "roots": ["tank-1"], "horizon": 600, "dt": 10}))
    code, output = invoke("run", str(spec), "--param", "tank-1.k=-5", "--wait", *admin)
    assert code == 1 and "failed" in output
    code, output = invoke("show", "boom", "--json", *viewer)
    assert "diverged" in json.loads(output)["error"]

    # a long one, cancelled while it runs, then removed
    code, output = invoke(
        "run", "--name", "long", "--root", "tank-1", "--horizon", "1e6", "--dt", "1", *admin
    )
    assert (code == 0 and "queued" in output) or "running" in output, output
    code, output = invoke("cancel", "long", *admin)
    assert code == 0 and "cancelled" in output, output
    code, output = invoke("rm", "long", "boom", *admin)
    assert code == 0 and "deleted scenario long" in output and "deleted scenario boom" in output
    code, output = invoke("ls", "--json", *viewer)
    assert [s["name"] for s in json.loads(output)] == ["clog"]
    code, output = invoke("rm", "long", *admin)
    assert code == 1 and "404 not_found" in output


def test_build_spec_from_a_file_and_options(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"name": "a", "roots": ["x"], "horizon": 60, "faults": [{"twin": "x"}]})
    )
    built = build_spec(
        str(spec),
        {
            "name": "b",
            "horizon": 120.0,
            "roots": ("tank.1",),
            "params": ("tank.1.area=4",),
            "inputs": ("pump-1.speed=0:1450,1800:0", "pump-1.mode=2"),
            "setpoints": ("valve.1.openingSetpoint=40",),
            "faults": ("valve-1.opening*0.3@600", "pump-1.speed=0@60-120", "p.k*2"),
        },
    )
    assert built["name"] == "b" and built["horizon"] == 120.0 and built["roots"] == ["tank.1"]
    assert built["parameters"] == {"tank.1": {"area": 4.0}}
    assert built["inputs"] == {"pump-1": {"speed": [[0.0, 1450.0], [1800.0, 0.0]], "mode": 2.0}}
    assert built["setpoints"] == {"valve.1": {"openingSetpoint": 40.0}}
    assert built["faults"] == [
        {"twin": "x"},
        {"twin": "valve-1", "target": "opening", "multiplier": 0.3, "start": 600.0},
        {"twin": "pump-1", "target": "speed", "value": 0.0, "start": 60.0, "end": 120.0},
        {"twin": "p", "target": "k", "multiplier": 2.0},
    ]
    bad = CliRunner().invoke(cli, ["scenario", "run", "--input", "pump-1=3", "--url", "http://x"])
    assert bad.exit_code == 2 and "expected TWIN.NAME=VALUE" in bad.output
    bad = CliRunner().invoke(cli, ["scenario", "run", "--fault", "p.k*x@1", "--token", "t"])
    assert bad.exit_code == 2 and "expected a number" in bad.output
