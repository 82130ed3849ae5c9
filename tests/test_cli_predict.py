"""``twinkit predict`` against a served API: train with a progress bar, list, show, activate,
deactivate and delete; bad options say what they expected."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from predict_models import PUMP, make_zscore, pumps, send
from twinkit.cli import cli
from twinkit.cli._predict import parse_limit, parse_param, parse_time

sys.path.insert(0, str(Path(__file__).resolve().parent / "api"))
from api_helpers import LiveServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "data") as live:
        assert live.services is not None
        services = live.services
        services.predictions.factories.add("zscore", make_zscore)

        async def prepare() -> None:
            await pumps(services.runtime, "pump-1")
            for t in range(1, 21):
                await send(services.runtime, "pump-1", 100.0 + t, temp=20.0 + t % 2)
            await services.predictions.start()

        live.run_in_loop(prepare())
        yield live


def run(server: LiveServer, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    options = ["--url", server.url, "--token", server.secrets["admin"]]
    result = runner.invoke(cli, ["predict", *args, *options], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_train_list_show_activate_and_remove(server: LiveServer) -> None:
    code, out, err = run(
        server,
        "train",
        "pump-anomaly",
        "--factory",
        "zscore",
        "--model",
        PUMP,
        "--param",
        "k=3.5",
        "--param",
        'inputs=["temp"]',
        "--start",
        "1970-01-01T00:00:00Z",
        "--end",
        "1000",
    )
    assert code == 0, err
    assert out.strip() == "pump-anomaly: version 1 trained"
    assert "training: 100%|" in err  # the tqdm bar
    code, out, err = run(server, "ls")
    assert code == 0 and "pump-anomaly" in out and "detector" in out
    assert "factories: " in err and "zscore" in err
    code, out, _ = run(server, "activate", "pump-anomaly", "1")
    assert code == 0 and out.strip() == "pump-anomaly: version 1 active"
    code, out, _ = run(server, "show", "pump-anomaly")
    assert code == 0
    assert "detector of dtmi:test:predict:Pump;1" in out and "training_rows=20" in out
    assert "1970-01-01T00:00:00Z .. 1970-01-01T00:16:40Z, 1 twin(s)" in out
    code, out, _ = run(server, "show", "pump-anomaly", "--json")
    shown = json.loads(out)
    assert shown["items"][0]["params"] == {"k": 3.5, "inputs": ["temp"]}
    code, _, err = run(server, "rm", "pump-anomaly", "1")
    assert code == 1 and "409 conflict" in err and "is active" in err
    assert run(server, "deactivate", "pump-anomaly")[0] == 0
    code, out, _ = run(server, "rm", "pump-anomaly", "1")
    assert code == 0 and out.strip() == "pump-anomaly: version 1 deleted"


def test_a_failed_training_exits_1_with_its_reason(server: LiveServer) -> None:
    code, out, err = run(
        server, "train", "x", "--factory", "zscore", "--model", PUMP, "--start", "0", "--end", "5"
    )
    assert code == 1 and out == ""
    assert "x: training failed: no history of ['temp'] to train from" in err
    code, _, err = run(server, "train", "x", "--factory", "nope", "--model", PUMP)
    assert code == 1 and "404 not_found: no factory 'nope'" in err


def test_option_parsing() -> None:
    assert parse_param('inputs=["a", "b"]') == ("inputs", ["a", "b"])
    assert parse_param("name=temp") == ("name", "temp")
    assert parse_limit("rul<30") == ("rul", {"below": 30.0})
    assert parse_limit("temp>80.5") == ("temp", {"above": 80.5})
    assert parse_time("2026-01-01T00:00:00", "--start") == 1767225600.0
    assert parse_time("12.5", "--end") == 12.5 and parse_time(None, "--end") is None
    for bad, call in (("rul=3", parse_limit), ("rul<x", parse_limit), ("x", parse_param)):
        with pytest.raises(click.BadParameter):
            call(bad)
    with pytest.raises(click.BadParameter, match="seconds or an ISO 8601 time"):
        parse_time("yesterday", "--start")
