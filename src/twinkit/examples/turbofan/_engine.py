"""The turbofan engine as the twin sees it: its DTDL models, and C-MAPSS columns as telemetry.

A C-MAPSS engine (Saxena et al., 2008) reports, once per flight cycle, three operating settings
and 21 sensors. Seven of the sensors hardly move in a given flight condition (s1, s5, s6, s10,
s16, s18, s19) and are left out; the twin's telemetry is the cycle counter, the settings and the
14 that carry wear, under the names of the C-MAPSS paper:

=======  ==========  =========================================================
column   telemetry   what it measures
=======  ==========  =========================================================
s2       T24         total temperature at the LPC outlet (°R)
s3       T30         total temperature at the HPC outlet (°R)
s4       T50         total temperature at the LPT outlet (°R)
s7       P30         total pressure at the HPC outlet (psia)
s8       Nf          physical fan speed (rpm)
s9       Nc          physical core speed (rpm)
s11      Ps30        static pressure at the HPC outlet (psia)
s12      phi         ratio of fuel flow to Ps30 (pps/psi)
s13      NRf         corrected fan speed (rpm)
s14      NRc         corrected core speed (rpm)
s15      BPR         bypass ratio
s17      htBleed     bleed enthalpy
s20      W31         HPT coolant bleed (lbm/s)
s21      W32         LPT coolant bleed (lbm/s)
=======  ==========  =========================================================

The settings are ``altitude`` (setting1, thousands of feet), ``mach`` (setting2) and
``throttle`` (setting3, the throttle resolver angle, degrees). :func:`telemetry_frame` renames
an engine frame of :func:`~twinkit.predict.engine_frames` to these names, which is what the
remaining-useful-life model trains on and what the replayed devices publish.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pandas as pd

from twinkit.errors import ValidationError
from twinkit.model import ModelSet
from twinkit.model.dtdl import parse

__all__ = [
    "CYCLE",
    "ENGINE",
    "FLEET",
    "SENSOR_COLUMNS",
    "SENSOR_NAMES",
    "SETTING_COLUMNS",
    "SETTING_NAMES",
    "TELEMETRY",
    "load_models",
    "model_documents",
    "model_files",
    "telemetry_frame",
]

ENGINE: Final = "dtmi:twinkit:turbofan:Engine;1"
FLEET: Final = "dtmi:twinkit:turbofan:Fleet;1"
CYCLE: Final = "cycle"

SETTING_COLUMNS: Final = ("setting1", "setting2", "setting3")
SETTING_NAMES: Final = ("altitude", "mach", "throttle")
SENSOR_COLUMNS: Final = (
    "s2",
    "s3",
    "s4",
    "s7",
    "s8",
    "s9",
    "s11",
    "s12",
    "s13",
    "s14",
    "s15",
    "s17",
    "s20",
    "s21",
)
SENSOR_NAMES: Final = (
    "T24",
    "T30",
    "T50",
    "P30",
    "Nf",
    "Nc",
    "Ps30",
    "phi",
    "NRf",
    "NRc",
    "BPR",
    "htBleed",
    "W31",
    "W32",
)
TELEMETRY: Final = (CYCLE, *SETTING_NAMES, *SENSOR_NAMES)
"""The engine's telemetry, in the column order the RUL model takes."""

_RENAMES: Final = dict(
    zip((*SETTING_COLUMNS, *SENSOR_COLUMNS), (*SETTING_NAMES, *SENSOR_NAMES), strict=True)
)


def telemetry_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """One engine's C-MAPSS frame (``cycle``, ``setting1``-``3``, ``s1``-``s21``, indexed by
    cycle) with the twin's telemetry names, in :data:`TELEMETRY` order; ``attrs`` kept."""
    missing = [name for name in (CYCLE, *_RENAMES) if name not in frame.columns]
    if missing:
        raise ValidationError(
            "engine frame lacks C-MAPSS columns",
            path=f"engine {frame.attrs.get('unit', '?')}",
            expected=f"columns cycle, {', '.join(_RENAMES)}",
            got=f"missing {missing}",
        )
    renamed = frame[[CYCLE, *_RENAMES]].rename(columns=_RENAMES)
    renamed.attrs = dict(frame.attrs)
    return renamed


def model_files() -> list[Path]:
    """The DTDL v3 files of the Engine and Fleet models."""
    folder = resources.files(__package__ or "twinkit.examples.turbofan") / "models"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".json"))


def model_documents() -> list[dict[str, Any]]:
    """The DTDL documents, as ``Runtime.add_models`` takes them."""
    documents: list[dict[str, Any]] = []
    for path in model_files():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        documents.extend(loaded if isinstance(loaded, list) else [loaded])
    return documents


@cache
def load_models() -> ModelSet:
    """The turbofan models, parsed (raises ParsingError if a file is broken)."""
    return parse(model_files())
