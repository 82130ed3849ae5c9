"""The examples of docs/simulation.md's backend sections run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("The engine", "ODE models", "Discrete events", "FEA and reduced-order")


def test_the_backend_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    sections = [s for s in re.split(r"^## ", text, flags=re.MULTILINE) if s.startswith(SECTIONS)]
    assert len(sections) == len(SECTIONS), "a section of docs/simulation.md was renamed"
    code = [b for s in sections for b in re.findall(r"```python\n(.*?)```", s, re.DOTALL)]
    assert len(code) >= 3, "docs/simulation.md lost its examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "simulation_backends_doc"}
    for block in code:
        exec(compile(block, "docs/simulation.md", "exec"), namespace)
    assert namespace["fast"].outputs["tip_z"] == pytest.approx(  # type: ignore[attr-defined]
        namespace["full"].outputs()["tip_z"],  # type: ignore[attr-defined]
        rel=1e-6,
    )
