"""The example of docs/prediction.md's anomaly-detection section runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import twinkit.predict
from twinkit.predict._detect_ensemble import default_detector

ROOT = Path(__file__).resolve().parents[2]
# What the example imports from twinkit.predict: its public API once __init__ lists it.
PUBLIC = {"default_detector": default_detector}


def test_the_anomaly_detection_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "prediction.md").read_text(encoding="utf-8")
    section = text.partition("\n## Anomaly detection\n")[2].partition("\n## ")[0]
    assert section, "docs/prediction.md lost its anomaly-detection section"
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    for name, value in PUBLIC.items():
        if not hasattr(twinkit.predict, name):
            monkeypatch.setattr(twinkit.predict, name, value, raising=False)
    exec(compile(blocks[0], "docs/prediction.md", "exec"), {"__name__": "detect_doc"})
    printed = capsys.readouterr().out.strip()
    expected = re.search(r"^# (.*)$", blocks[0], re.MULTILINE)
    assert expected is not None and printed == expected.group(1) == "False True flow"
