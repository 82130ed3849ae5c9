"""The examples of docs/prediction.md's framework sections run as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import twinkit.predict
from twinkit.predict._online import PredictionRunner
from twinkit.predict._registry import PredictorRegistry
from twinkit.predict._training import train, training_set

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("Framework", "Registry", "Online inference")
# What the examples import from twinkit.predict: its public API once __init__ lists them.
PUBLIC = {
    "PredictionRunner": PredictionRunner,
    "PredictorRegistry": PredictorRegistry,
    "train": train,
    "training_set": training_set,
}


def test_the_framework_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "prediction.md").read_text(encoding="utf-8")
    sections = [s for s in re.split(r"^## ", text, flags=re.MULTILINE) if s.startswith(SECTIONS)]
    assert len(sections) == len(SECTIONS), "a section of docs/prediction.md was renamed"
    code = [b for s in sections for b in re.findall(r"```python\n(.*?)```", s, re.DOTALL)]
    assert code, "docs/prediction.md lost its example"
    for name, value in PUBLIC.items():
        if not hasattr(twinkit.predict, name):
            monkeypatch.setattr(twinkit.predict, name, value, raising=False)
    module = types.ModuleType("prediction_doc")  # a real module: its model class pickles
    monkeypatch.setitem(sys.modules, "prediction_doc", module)
    monkeypatch.chdir(tmp_path)
    for block in code:
        exec(compile(block, "docs/prediction.md", "exec"), module.__dict__)
    assert capsys.readouterr().out.splitlines() == ["pump-anomaly@v1 0.0", "True"]
