"""DTDL parser conformance and speed over the DTDLParser test suite.

Runs every case in the conformance folder (valid cases must parse, invalid ones must be
rejected, naming unresolved identifiers where the case expects them), prints pass rates per
DTDL version and per kind, every failing case, and how long the whole folder takes (median of
``--repeat`` runs, JSON decoding included). Also times the two published ontologies.

    python bench/dtdl_conformance.py [--data ../shared/data/dtdl] [--repeat 5] [--write docs/conformance.md]

The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

from twinkit.model.dtdl import parse
from twinkit.model.dtdl.conformance import Outcome, load_cases, run_case

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dtdl"


def run_all(folder: Path) -> tuple[list[Outcome], float]:
    start = time.perf_counter()
    outcomes = [run_case(case) for case in load_cases(folder)]
    return outcomes, time.perf_counter() - start


def rates(outcomes: list[Outcome]) -> dict[str, dict[str, object]]:
    total: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for outcome in outcomes:
        case = outcome.case
        for key in (f"v{case.version}", case.kind, f"v{case.version} {case.kind}", "all"):
            total[key] += 1
            passed[key] += outcome.passed
    return {
        key: {"cases": total[key], "passed": passed[key], "rate": passed[key] / total[key]}
        for key in sorted(total)
    }


def markdown(outcomes: list[Outcome], table: dict[str, dict[str, object]], seconds: float) -> str:
    files = len({o.case.file for o in outcomes})
    lines = [
        "# DTDL conformance",
        "",
        "twinkit's DTDL parser is run against the DTDLParser conformance suite",
        f"(`../shared/data/dtdl/conformance/`: {files} files, {len(outcomes)} cases of DTDL v2",
        "and v3). A valid case must parse; an invalid case must be rejected, and where the case",
        "lists `unresolvedIdentifiers` the error must name each of them. The test suite runs every",
        "case (`tests/model/test_dtdl_conformance.py`); this page is written by",
        "",
        "    python bench/dtdl_conformance.py --write docs/conformance.md",
        "",
        "| cases | count | passed | rate |",
        "|---|---:|---:|---:|",
    ]
    for key, row in table.items():
        lines.append(f"| {key} | {row['cases']} | {row['passed']} | {row['rate']:.2%} |")
    failing = [o for o in outcomes if not o.passed]
    lines += ["", f"Whole folder, JSON decoding included: {seconds:.2f} s (median).", ""]
    lines.append("## Failing cases")
    lines.append("")
    if not failing:
        lines.append("None.")
    for outcome in failing:
        lines.append(f"- `{outcome.case.name}` (valid={outcome.case.valid}): {outcome.detail}")
    lines += [
        "",
        "Case kinds: *Requirement* cases test what the specification requires, *Allowance* what",
        "it allows, *Recommendation* valid but discouraged forms, *Completion* references and",
        "contexts resolved across documents.",
        "",
    ]
    return "\n".join(lines)


def time_ontologies(data: Path, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("smartcities", "energygrid"):
        files = sorted((data / "ontologies" / name).rglob("*.json"))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            parse(files)
            times.append(time.perf_counter() - start)
        out[f"ontology_{name}_files"] = len(files)
        out[f"ontology_{name}_s"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dtdl data folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run only")
    parser.add_argument("--write", type=Path, help="write the conformance report here")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    folder = args.data / "conformance"
    times = []
    outcomes: list[Outcome] = []
    for _ in range(repeat):
        outcomes, seconds = run_all(folder)
        times.append(seconds)
    seconds = statistics.median(times)
    table = rates(outcomes)
    for key, row in table.items():
        print(f"{key:>18}: {row['passed']:>6}/{row['cases']:<6} {row['rate']:.2%}")
    failing = [o for o in outcomes if not o.passed]
    for outcome in failing:
        print(f"FAIL {outcome.case.name}: {outcome.detail}")
    print(
        f"whole folder: {seconds:.2f} s median of {repeat} ({len(outcomes)} cases, target < 10 s)"
    )
    figures: dict[str, object] = {
        "cases": len(outcomes),
        "passed": len(outcomes) - len(failing),
        "conformance_s": round(seconds, 3),
        "ratio_to_target": round(seconds / 10.0, 4),
        "python": platform.python_version(),
    }
    figures.update({k: round(v, 4) for k, v in time_ontologies(args.data, repeat).items()})
    if args.write:
        args.write.write_text(markdown(outcomes, table, seconds), encoding="utf-8")
        print(f"wrote {args.write}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
