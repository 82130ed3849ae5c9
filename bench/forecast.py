"""Tank-level forecasts of the pump station (issue 6): errors per horizon against persistence
and seasonal naive, prediction-interval coverage and width, training and inference time.

The data is the pump-station example's own physics (``tests/predict/forecast_station.py``):
three pumps staged on the tank level by a controller, a valve opened by the town's daily
demand with a random factor per day, the devices' measurement noise, and a share of lost
messages, so the telemetry is irregular. Evaluation is rolling origin with refits: the last
``--test`` share of the history is cut into ``--folds`` blocks; for each, a forecaster is
fitted on everything before the block and forecasts from every minute of the block.

``--quick`` runs a small version. The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "predict"))

from forecast_station import station_history

from _machine import describe
from twinkit.predict import Window
from twinkit.predict._forecast import Forecaster
from twinkit.predict._forecast_eval import ForecastEvaluation, rolling_origin

LEVELS = (0.5, 0.8, 0.9, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=28.0, help="days of history to simulate")
    parser.add_argument("--folds", type=int, default=3, help="rolling-origin test blocks")
    parser.add_argument("--test", type=float, default=0.3, help="share of the history tested")
    parser.add_argument("--horizons", default="300,900,1800,3600", help="seconds, comma-separated")
    parser.add_argument("--method", default="boosting", choices=["boosting", "ridge"])
    parser.add_argument("--adapt", type=float, default=0.0, help="adaptive conformal step size")
    parser.add_argument("--dropout", type=float, default=0.02, help="share of lost messages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="10 days, 2 folds: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.days, args.folds = 10.0, 2
    horizons = tuple(float(h) for h in args.horizons.split(","))
    print(describe(), flush=True)
    print(f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}", flush=True)

    began = time.perf_counter()
    history = station_history(args.days, seed=args.seed, dt=10.0, dropout=args.dropout)
    generated = time.perf_counter() - began
    print(
        f"station history: {args.days:g} days, {len(history):,} readings of the tank "
        f"({args.dropout:.0%} lost), simulated in {generated:.1f} s",
        flush=True,
    )

    settings: dict[str, Any] = {
        "exogenous": ("inflow", "outflow"),
        "horizons": horizons,
        "method": args.method,
        "adapt": args.adapt,
        "seed": args.seed,
    }
    fits: list[float] = []

    class Timed(Forecaster):
        """A forecaster that records how long each fit takes."""

        def fit(self, *a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return super().fit(*a, **k)
            finally:
                fits.append(time.perf_counter() - start)

    def timed() -> Forecaster:
        return Timed("level", **settings)

    evaluation = rolling_origin(timed, [history], folds=args.folds, test=args.test, levels=LEVELS)
    report(evaluation)
    latency = inference_latency(Forecaster("level", **settings), history)
    print(
        f"training: {np.median(fits):.1f} s per fit (median of {len(fits)}, "
        f"{len(horizons)} horizons x 5 fits each: 4 calibration folds + the final model)"
    )
    print(
        f"inference: {latency['median_ms']:.2f} ms per window (median), p99 "
        f"{latency['p99_ms']:.2f} ms, {len(horizons)} horizons, {latency['rows']} rows"
    )
    figures: dict[str, Any] = {
        "quick": args.quick,
        "days": args.days,
        "folds": args.folds,
        "method": args.method,
        "adapt": args.adapt,
        "fit_s": float(np.median(fits)),
        "predict_ms_median": latency["median_ms"],
        "predict_ms_p99": latency["p99_ms"],
        **evaluation.figures(),
    }
    print(json.dumps(figures))


def report(evaluation: ForecastEvaluation) -> None:
    print(
        f"{'horizon':>8} {'n':>6} {'MAE':>7} {'persist':>8} {'seasonal':>9} {'skill':>6} "
        f"{'RMSE':>7} {'persist':>8} | coverage at 0.5 / 0.8 / 0.9 / 0.95 | width at 0.9"
    )
    for s in evaluation.horizons:
        coverage = " / ".join(f"{s.coverage[level]:.3f}" for level in LEVELS)
        print(
            f"{s.horizon:>7g}s {s.samples:>6} {s.mae:>7.3f} {s.persistence_mae:>8.3f} "
            f"{s.seasonal_mae:>9.3f} {s.skill:>6.2f} {s.rmse:>7.3f} {s.persistence_rmse:>8.3f} "
            f"| {coverage:>33} | {s.width[0.9]:.3f} m"
        )
    print("(errors in m of tank level; skill = 1 - MAE / persistence MAE)")


def inference_latency(model: Forecaster, history: Any, windows: int = 300) -> dict[str, Any]:
    """Time of ``predict`` on live windows of the last days, after fitting on the first ones."""
    cut = len(history) * 2 // 3
    model.fit([history.iloc[:cut]])
    times = []
    rows = model.window
    for end in np.linspace(cut + rows, len(history) - 1, windows).astype(int):
        window = Window.of("tank-1", history.iloc[end - rows + 1 : end + 1])
        start = time.perf_counter()
        model.predict(window)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rows": rows,
    }


if __name__ == "__main__":
    main()
