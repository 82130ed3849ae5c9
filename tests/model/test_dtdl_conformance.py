"""The DTDLParser conformance suite: every case of DTDL v2 and v3 must come out right."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from twinkit.model.dtdl import parse
from twinkit.model.dtdl.conformance import load_cases, load_file, run_case

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared/data/dtdl/conformance"
FILES = sorted(p.name for p in CONFORMANCE.glob("*.json")) if CONFORMANCE.is_dir() else []


def test_suite_is_complete(shared_data: Path) -> None:
    cases = list(load_cases(shared_data / "dtdl" / "conformance"))
    assert len({c.file for c in cases}) == 1824
    assert len(cases) == 13384
    kinds = Counter((c.version, c.valid) for c in cases)
    assert kinds[(2, True)] > 0 and kinds[(3, False)] > 0


@pytest.mark.parametrize("file", FILES)
def test_conformance_file(file: str) -> None:
    failures = [o for o in map(run_case, load_file(CONFORMANCE / file)) if not o.passed]
    assert not failures, "\n".join(f"{o.case.name}: {o.detail}" for o in failures)


@pytest.mark.parametrize("name", ["smartcities", "energygrid"])
def test_published_ontologies_load(shared_data: Path, name: str) -> None:
    files = sorted((shared_data / "dtdl" / "ontologies" / name).rglob("*.json"))
    model_set = parse(files)
    assert len(model_set) == len(files)
    assert all(model_set.contents(model_id) is not None for model_id in model_set)
