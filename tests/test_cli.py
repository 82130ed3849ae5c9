"""``twinkit models validate`` and ``twinkit models export`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

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
