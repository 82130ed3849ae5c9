"""What the turbofan tests share: a tiny fleet and a model that trains in a fraction of a second."""

from __future__ import annotations

from twinkit.examples.turbofan import SENSOR_NAMES, SETTING_NAMES, FleetSpec
from twinkit.predict import RulConfig

TINY = FleetSpec(
    train=12,
    test=3,
    life_mean=40.0,
    life_std=4.0,
    min_life=32,
    min_cut=20,
    min_rul=2,
    max_rul=6,
    seed=3,
)
"""Engines that fail after about 40 cycles; test engines are cut 2-6 cycles before failure,
so every replay ends well under an alert threshold of 30 cycles."""

FAST = RulConfig(settings=SETTING_NAMES, sensors=SENSOR_NAMES, members=("ridge",), folds=3)
"""Ridge only: the whole pipeline, trained in well under a second."""
