"""The example of docs/prediction.md's remaining-useful-life section runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import twinkit.predict
from twinkit.predict._cmapss import load_cmapss
from twinkit.predict._rul import RulConfig, RulPredictor

ROOT = Path(__file__).resolve().parents[2]
# What the example imports from twinkit.predict: its public API once __init__ lists it.
PUBLIC = {"RulConfig": RulConfig, "RulPredictor": RulPredictor, "load_cmapss": load_cmapss}


def test_the_rul_example_runs(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "prediction.md").read_text(encoding="utf-8")
    section = text.partition("\n## Remaining useful life\n")[2].partition("\n## ")[0]
    assert section, "docs/prediction.md lost its remaining-useful-life section"
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    for name, value in PUBLIC.items():
        if not hasattr(twinkit.predict, name):
            monkeypatch.setattr(twinkit.predict, name, value, raising=False)
    # the example reads ../shared/data/cmapss (the fixture fails clearly when it is missing)
    assert (shared_data / "cmapss").is_dir()
    monkeypatch.chdir(ROOT)
    exec(compile(blocks[0], "docs/prediction.md", "exec"), {"__name__": "rul_doc"})
    printed = capsys.readouterr().out.strip().splitlines()
    expected = re.findall(r"^# (.*)$", blocks[0], re.MULTILINE)
    assert printed == expected
