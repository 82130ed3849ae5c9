"""``python -m twinkit.examples.pumps --mqtt URL``: run the demo station's devices until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from twinkit.examples.pumps._devices import run_devices
from twinkit.examples.pumps._layout import station_layout


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m twinkit.examples.pumps", description="Run the pump-station devices."
    )
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="broker URL")
    parser.add_argument("--pumps", type=int, default=3, help="number of pumps")
    parser.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=0, help="seed of the measurement noise")
    parser.add_argument("--skab", default=None, help="SKAB data folder to replay as pump-skab")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    layout = station_layout(args.pumps, replay_pump=args.skab is not None)
    run_devices(args.mqtt, layout, speedup=args.speedup, seed=args.seed, skab_dir=args.skab)


if __name__ == "__main__":
    main()
