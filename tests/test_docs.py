"""The Python examples in the README and docs/ run as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def test_readme_tour_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = blocks(ROOT / "README.md")
    assert len(code) >= 3, "the tour lost its examples"
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in code:  # one namespace: later blocks use earlier names, as a reader would
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "2 of 2 telemetry values are invalid" in printed


def test_models_doc_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    code = blocks(ROOT / "docs" / "models.md")
    assert len(code) >= 2
    module = types.ModuleType("models_doc")  # a real module, as model classes live in one
    monkeypatch.setitem(sys.modules, "models_doc", module)
    for block in code:
        exec(compile(block, "docs/models.md", "exec"), module.__dict__)


def test_runtime_doc_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = blocks(ROOT / "docs" / "runtime.md")
    assert code, "docs/runtime.md lost its example"
    monkeypatch.chdir(tmp_path)  # the example may write a database file
    namespace: dict[str, object] = {"__name__": "runtime_doc"}
    for block in code:
        exec(compile(block, "docs/runtime.md", "exec"), namespace)


def test_series_doc_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = blocks(ROOT / "docs" / "series.md")
    assert code, "docs/series.md lost its example"
    monkeypatch.chdir(tmp_path)  # the example may write a database file
    namespace: dict[str, object] = {"__name__": "series_doc"}
    for block in code:
        exec(compile(block, "docs/series.md", "exec"), namespace)
