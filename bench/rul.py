"""Remaining useful life on NASA C-MAPSS (FD001, FD003) with the benchmark's own protocol.

Trains twinkit's :class:`~twinkit.predict.RulPredictor` on the subset's training engines (run
to failure; targets capped at 125 cycles) and scores one estimate per test engine, at its last
cycle, against the true RUL of ``RUL_FD00x.txt``:

- RMSE and the PHM08 score against the true RUL as given, and against the true RUL capped at
  125 (the capped figure is what the estimate stands for, and how much of the deep-learning
  literature computes its RMSE: compare with the published figures knowing which is which);
- the 90 % interval's coverage of the true RUL (and of the capped one) and its mean width;
- the training time, and the latency of one live update (``predict`` on one engine's newest
  window, every cycle of every test engine): median and p99;
- the published figures next to them: best RMSE FD001 10.97, FD003 10.90 (MTSTAN); predicting
  the mean gives FD001 40.1; and the mean predictor measured here.

``--repeat N`` trains N times (seeded: the figures must come out identical, the times vary) and
reports the median times. ``--quick`` trains a small ensemble (smoke run). The last line printed
is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from _machine import describe
from twinkit.predict._cmapss import CmapssSubset, load_cmapss
from twinkit.predict._protocol import Window
from twinkit.predict._rul import RulConfig, RulPredictor
from twinkit.predict._rul_metrics import RulEvaluation, phm08_score, rmse

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmapss"
PUBLISHED = {
    "FD001": {"best_rmse": 10.97, "best_method": "MTSTAN", "mean_predictor_rmse": 40.1},
    "FD003": {"best_rmse": 10.90, "best_method": "MTSTAN", "mean_predictor_rmse": None},
}


def config(quick: bool) -> RulConfig:
    if quick:
        return RulConfig(members=("boosting", "ridge"), size=100, folds=3)
    return RulConfig()


def train(data: CmapssSubset, settings: RulConfig) -> tuple[RulPredictor, float]:
    predictor = RulPredictor(settings)
    with tqdm(total=100, desc="training", unit="%", file=sys.stderr, leave=False) as bar:

        def progress(fraction: float) -> None:
            bar.n = round(100 * fraction)
            bar.refresh()

        began = time.perf_counter()
        predictor.fit(data.train, progress=progress)
    return predictor, time.perf_counter() - began


def latencies(predictor: RulPredictor, data: CmapssSubset) -> list[float]:
    """Seconds of each ``predict`` call, at every cycle of every test engine (windows prebuilt
    from numpy arrays, as a live runner holds them)."""
    inputs = tuple(predictor.inputs)
    first = predictor.config.min_history
    times: list[float] = []
    for frame in data.test:
        values = frame[list(inputs)].to_numpy(dtype=np.float64)
        index = np.asarray(frame.index, dtype=np.float64)
        for end in range(first, len(values) + 1):
            start = max(0, end - predictor.window)
            window = Window("engine", index[start:end], values[start:end], inputs)
            began = time.perf_counter()
            predictor.predict(window)
            times.append(time.perf_counter() - began)
    return times


def mean_predictor(data: CmapssSubset, cap: float) -> dict[str, float]:
    """RMSE of constant guesses: the mean capped training target, and the test RUL's own mean
    (the best any constant can do, the figure the literature quotes as 40.1 for FD001)."""
    train_mean = float(
        np.mean(np.concatenate([np.minimum(np.arange(len(f))[::-1], cap) for f in data.train]))
    )
    test_mean = float(np.mean(data.test_rul))
    return {
        "train_mean_rmse": rmse(np.full(len(data.test_rul), train_mean), data.test_rul),
        "test_mean_rmse": rmse(np.full(len(data.test_rul), test_mean), data.test_rul),
        "train_mean_score": phm08_score(np.full(len(data.test_rul), train_mean), data.test_rul),
    }


def report(subset: str, evaluation: RulEvaluation, figures: dict[str, Any]) -> None:
    published = PUBLISHED[subset]
    print(f"--- {subset}: {int(figures['engines'])} test engines, last cycle of each")
    print(
        f"RMSE {figures['rmse']:.2f} against the true RUL; {figures['rmse_capped']:.2f} against "
        f"it capped at {evaluation.cap:g} (published best {published['best_rmse']} "
        f"{published['best_method']}; mean predictor here {figures['test_mean_rmse']:.1f}, "
        f"published {published['mean_predictor_rmse'] or 'n/a'})"
    )
    print(f"PHM08 score {figures['score']:.1f} (capped truth {figures['score_capped']:.1f})")
    print(
        f"{evaluation.level:.0%} interval: coverage {figures['coverage']:.2f} of the true RUL, "
        f"{figures['coverage_capped']:.2f} of the capped; mean width {figures['mean_width']:.1f}"
        " cycles"
    )
    print(
        f"training {figures['training_s']:.1f} s; live update median "
        f"{figures['latency_median_us']:.0f} µs, p99 {figures['latency_p99_us']:.0f} µs over "
        f"{figures['updates']} updates (target < 1000 µs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the files")
    parser.add_argument("--subset", default="FD001", choices=["FD001", "FD003"])
    parser.add_argument("--quick", action="store_true", help="a small ensemble (smoke run)")
    parser.add_argument("--repeat", type=int, default=1, help="trainings (times: median)")
    args = parser.parse_args()
    print(describe(), flush=True)
    print(f"command: bench/rul.py {' '.join(sys.argv[1:])}", flush=True)
    data = load_cmapss(args.data, args.subset)
    settings = config(args.quick)
    runs = []
    for _ in range(max(args.repeat, 1)):
        predictor, seconds = train(data, settings)
        evaluation = predictor.evaluate(data.test, data.test_rul)
        runs.append((predictor, seconds, evaluation.figures(), evaluation))
    predictor, _, figures, evaluation = runs[0]
    identical = all(run[2] == figures for run in runs)
    times = latencies(predictor, data)
    figures = {
        "subset": args.subset,
        "quick": args.quick,
        **figures,
        **mean_predictor(data, settings.cap),
        "training_s": statistics.median(run[1] for run in runs),
        "trainings": len(runs),
        "identical_across_trainings": identical,
        "latency_median_us": 1e6 * statistics.median(times),
        "latency_p99_us": 1e6 * float(np.percentile(times, 99)),
        "updates": len(times),
        "training": {k: round(v, 4) for k, v in predictor.metrics.items()},
        "published": PUBLISHED[args.subset],
    }
    report(args.subset, evaluation, figures)
    if not identical:
        print("WARNING: seeded trainings gave different figures", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
