"""Throughput of telemetry validation: flat numeric payloads through the compiled validator.

Measures values/s (median of several repeats) for ``telemetry_batch``, per-value ``telemetry``
calls, numpy columns, and unit-converted values, next to the raw floor measured in the same
run: a bare Python loop doing ``isinstance`` and a dict insert over the same payloads.
The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _machine import cpu_model
from twinkit.model import Dtmi, Interface, ModelSet, ModelValidator, PrimitiveSchema, Telemetry

MODEL = "dtmi:bench:Pump;1"
DOUBLES = {
    "temperature": "degreeCelsius",
    "pressure": "bar",
    "flow": "litrePerSecond",
    "speed": "revolutionPerMinute",
    "current": "ampere",
    "voltage": "volt",
    "vibration": "metrePerSecondSquared",
}
LONGS = ("pulses", "errors", "uptime")
SOURCE_UNITS = {"temperature": "degF", "pressure": "kPa", "speed": "radian / second"}


def model_set() -> ModelSet:
    contents = [
        Telemetry(name=name, schema=PrimitiveSchema.DOUBLE, unit=unit)
        for name, unit in DOUBLES.items()
    ]
    contents += [Telemetry(name=name, schema=PrimitiveSchema.LONG) for name in LONGS]
    return ModelSet([Interface(id=Dtmi(MODEL), contents=tuple(contents))])


def payloads(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Realistic device messages: doubles (some sent as ints, as JSON encoders do) and longs."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        message: dict[str, Any] = {}
        for name in DOUBLES:
            value = rng.uniform(-50.0, 500.0)
            message[name] = round(value) if rng.random() < 0.1 else value
        for name in LONGS:
            message[name] = rng.randrange(0, 2**40)
        result.append(message)
    return result


def median_rate(run: Callable[[], object], values: int, repeats: int) -> float:
    """Median values/s over ``repeats`` runs."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return values / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000, help="payloads per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (median reported)")
    parser.add_argument("--quick", action="store_true", help="5k payloads, 5 repeats")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeats = 5_000, 5
    repeats = max(args.repeats, 5)

    validator = ModelValidator(model_set(), MODEL)
    messages = payloads(args.messages)
    per_message = len(messages[0])
    values = len(messages) * per_message
    batch = validator.telemetry_batch
    single = validator.telemetry
    units = {name: SOURCE_UNITS[name] for name in SOURCE_UNITS}
    converted = len(messages) * len(SOURCE_UNITS)
    columns = {name: np.array([m[name] for m in messages], dtype=np.float64) for name in DOUBLES}
    columns.update({name: np.array([m[name] for m in messages]) for name in LONGS})

    def floor() -> None:
        for message in messages:
            out = {}
            for name, value in message.items():
                if isinstance(value, int | float):
                    out[name] = value

    def batches() -> None:
        for message in messages:
            batch(message)

    def per_value() -> None:
        for message in messages:
            for name, value in message.items():
                single(name, value)

    def with_units() -> None:
        for message in messages:
            batch(message, units=units)

    def column_path() -> None:
        for name, column in columns.items():
            validator.telemetry_column(name, column)

    def column_units() -> None:
        for name, unit in SOURCE_UNITS.items():
            validator.telemetry_column(name, columns[name], unit=unit)

    with_units()  # build the cached conversions before timing
    figures = {
        "floor_values_per_s": median_rate(floor, values, repeats),
        "batch_values_per_s": median_rate(batches, values, repeats),
        "per_value_values_per_s": median_rate(per_value, values, repeats),
        "batch_with_units_values_per_s": median_rate(with_units, values, repeats),
        "column_values_per_s": median_rate(column_path, values, repeats),
        "column_units_values_per_s": median_rate(column_units, converted, repeats),
    }
    floor_rate = figures["floor_values_per_s"]
    for key in ("batch", "per_value", "batch_with_units"):
        figures[f"{key}_ratio_to_floor"] = figures[f"{key}_values_per_s"] / floor_rate

    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"payloads: {len(messages)} x {per_message} fields (7 double, 3 long); "
        f"median of {repeats} repeats"
    )
    for key, value in figures.items():
        text = f"{value:.3f}" if key.endswith("ratio_to_floor") else f"{value:,.0f}"
        print(f"  {key:36s} {text}")
    print(
        json.dumps(
            {k: round(v, 3) for k, v in figures.items()}
            | {"messages": len(messages), "fields": per_message, "repeats": repeats}
        )
    )


if __name__ == "__main__":
    main()
