"""The example of docs/simulation.md's bracket section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_the_docs_example_of_the_bracket_runs(
    default_rom_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")
    (section,) = [
        s for s in re.split(r"^## ", text, flags=re.MULTILINE) if s.startswith("Structural twin")
    ]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    monkeypatch.setenv("TWINKIT_CACHE_DIR", str(default_rom_cache))
    exec(compile(code, "docs/simulation.md", "exec"), {"__name__": "bracket_doc"})
    printed = capsys.readouterr().out
    assert "ROM loaded in" in printed and "rank 10" in printed
    # beam theory: M c / (E I) = 231.5 µε at the root gauge; P L³ / (3 E I) = 0.94 mm at the tip
    assert re.search(r"root gauge 23[12]\.\d µε, tip 0\.9\d mm down", printed), printed
    assert re.search(r"\d+ vertices, \d+ triangles, up to \d+ MPa", printed), printed
