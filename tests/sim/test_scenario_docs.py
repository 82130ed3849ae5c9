"""The Python example of docs/scenarios.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_scenarios_doc_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert code, "docs/scenarios.md lost its example"
    monkeypatch.chdir(tmp_path)  # the example writes a database file
    namespace: dict[str, object] = {"__name__": "scenarios_doc"}
    for block in code:
        exec(compile(block, "docs/scenarios.md", "exec"), namespace)
