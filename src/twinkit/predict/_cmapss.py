"""Readers for NASA's C-MAPSS turbofan data (Saxena et al., 2008).

A subset ``FD00x`` is three files, plain or gzipped: ``train_FD00x.txt`` (engines run to
failure), ``test_FD00x.txt`` (engines cut some time before failure) and ``RUL_FD00x.txt`` (the
true remaining cycles of each test engine at its cut, one line per engine). A data line holds 26
space-separated numbers: unit, cycle, three operating settings and 21 sensors.

:func:`read_cmapss` gives one table; :func:`engine_frames` splits it into one frame per engine,
indexed by cycle, which is what :class:`~twinkit.predict.RulPredictor` trains on and what
:meth:`~twinkit.predict.Window.of` turns into live windows. Malformed lines are refused with
the file and line number.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import NotFoundError, ValidationError

__all__ = [
    "CMAPSS_COLUMNS",
    "CMAPSS_SENSORS",
    "CMAPSS_SETTINGS",
    "CmapssSubset",
    "engine_frames",
    "load_cmapss",
    "read_cmapss",
    "read_rul",
]

logger = logging.getLogger(__name__)

CMAPSS_SETTINGS: tuple[str, ...] = ("setting1", "setting2", "setting3")
CMAPSS_SENSORS: tuple[str, ...] = tuple(f"s{number}" for number in range(1, 22))
CMAPSS_COLUMNS: tuple[str, ...] = ("unit", "cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS)
_SUBSETS = ("FD001", "FD002", "FD003", "FD004")


@dataclass(frozen=True, slots=True)
class CmapssSubset:
    """One C-MAPSS subset: training engines (run to failure), test engines and their true RUL.

    ``test_rul[i]`` is the remaining useful life of ``test[i]`` after its last cycle.
    """

    name: str
    train: tuple[pd.DataFrame, ...]
    test: tuple[pd.DataFrame, ...]
    test_rul: npt.NDArray[np.float64]


def _text(path: Path) -> str:
    """The file's text, gunzipped when it ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="ascii") as stream:
                return stream.read()
        return path.read_text(encoding="ascii")
    except FileNotFoundError as err:
        raise NotFoundError(f"C-MAPSS file not found: {path}", where=str(path)) from err
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise ValidationError(
            "C-MAPSS file cannot be read as ASCII text (or gzipped text)",
            path=str(path),
            expected="space-separated numbers, optionally gzipped",
            got=f"{type(err).__name__}: {err}",
        ) from err


def _numbers(path: Path, width: int | None) -> tuple[npt.NDArray[np.float64], list[int]]:
    """Every non-blank line of ``path`` as a row of floats, and the 1-based line number of each.

    ``width`` is how many numbers a line must hold (None: one, as in the RUL files).
    """
    rows: list[list[str]] = []
    numbers: list[int] = []
    expected = 1 if width is None else width
    for number, line in enumerate(_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != expected:
            raise ValidationError(
                f"C-MAPSS line has {len(fields)} fields",
                path=f"{path}:{number}",
                expected=f"{expected} space-separated numbers",
                got=line.strip(),
            )
        rows.append(fields)
        numbers.append(number)
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), expected), numbers
    except ValueError:
        for fields, number in zip(rows, numbers, strict=True):
            for field in fields:
                try:
                    float(field)
                except ValueError:
                    raise ValidationError(
                        "C-MAPSS line holds a field that is not a number",
                        path=f"{path}:{number}",
                        expected=f"{expected} space-separated numbers",
                        got=field,
                    ) from None
        raise  # pragma: no cover - every field parsed on its own but not together


def _check_values(path: Path, table: npt.NDArray[np.float64], lines: list[int]) -> None:
    """Numbers must be finite; unit and cycle positive integers; cycles rising in each unit."""
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            "C-MAPSS line holds a value that is not finite",
            path=f"{path}:{lines[row]}",
            expected="finite numbers",
            got=table[row].tolist(),
        )
    ids = table[:, :2]
    bad = ((ids != np.round(ids)) | (ids < 1)).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            "C-MAPSS unit and cycle must be positive integers",
            path=f"{path}:{lines[row]}",
            expected="unit >= 1 and cycle >= 1, whole numbers",
            got=ids[row].tolist(),
        )
    same_unit = table[1:, 0] == table[:-1, 0]
    bad = same_unit & (table[1:, 1] <= table[:-1, 1])
    if bad.any():
        row = int(np.argmax(bad)) + 1
        raise ValidationError(
            "C-MAPSS cycles must rise within a unit",
            path=f"{path}:{lines[row]}",
            expected=f"a cycle after {int(table[row - 1, 1])} of unit {int(table[row, 0])}",
            got=int(table[row, 1]),
        )


def read_cmapss(path: str | Path) -> pd.DataFrame:
    """One ``train_``/``test_`` file as a table of the 26 :data:`CMAPSS_COLUMNS`.

    ``unit`` and ``cycle`` are integers, the rest floats. Raises :class:`NotFoundError` for a
    missing file and :class:`ValidationError` naming ``file:line`` for a malformed one.
    """
    path = Path(path)
    table, lines = _numbers(path, len(CMAPSS_COLUMNS))
    if not len(table):
        raise ValidationError(
            "C-MAPSS file holds no data", path=str(path), expected="at least one line"
        )
    _check_values(path, table, lines)
    frame = pd.DataFrame(table, columns=list(CMAPSS_COLUMNS))
    return frame.astype({"unit": np.int64, "cycle": np.int64})


def read_rul(path: str | Path) -> npt.NDArray[np.float64]:
    """An ``RUL_`` file: the true remaining cycles of each test engine, in unit order."""
    path = Path(path)
    table, lines = _numbers(path, None)
    values = table[:, 0]
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            "C-MAPSS remaining useful life must be a number of cycles >= 0",
            path=f"{path}:{lines[row]}",
            expected="a finite number >= 0",
            got=float(values[row]),
        )
    return values


def engine_frames(table: pd.DataFrame) -> list[pd.DataFrame]:
    """One frame per unit, in unit order, indexed by cycle (index name ``time``).

    Columns: ``cycle`` (kept as an input: an engine's age is telling), the settings and the
    sensors. ``frame.attrs["unit"]`` is the unit number.
    """
    missing = [name for name in CMAPSS_COLUMNS if name not in table.columns]
    if missing:
        raise ValidationError(
            "table lacks C-MAPSS columns",
            path="C-MAPSS table",
            expected=f"columns {list(CMAPSS_COLUMNS)}",
            got=missing,
        )
    columns = ["cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS]
    frames = []
    for _, rows in table.groupby("unit", sort=True):
        frame = rows[columns].astype(np.float64)
        frame.index = pd.Index(rows["cycle"].to_numpy(dtype=np.float64), name="time")
        frame.attrs["unit"] = int(rows["unit"].iloc[0])
        frames.append(frame)
    return frames


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.txt", directory / f"{stem}.txt.gz"):
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"C-MAPSS file {stem}.txt or {stem}.txt.gz not found in {directory}", where=str(directory)
    )


def load_cmapss(directory: str | Path, subset: str) -> CmapssSubset:
    """Read ``train_``, ``test_`` and ``RUL_<subset>`` (plain or gzipped) from ``directory``."""
    if subset not in _SUBSETS:
        raise ValidationError(
            "unknown C-MAPSS subset", path="subset", expected=f"one of {list(_SUBSETS)}", got=subset
        )
    directory = Path(directory)
    train = engine_frames(read_cmapss(_find(directory, f"train_{subset}")))
    test_path = _find(directory, f"test_{subset}")
    test = engine_frames(read_cmapss(test_path))
    rul_path = _find(directory, f"RUL_{subset}")
    rul = read_rul(rul_path)
    units = [frame.attrs["unit"] for frame in test]
    if len(rul) != len(test) or units != list(range(1, len(test) + 1)):
        raise ValidationError(
            "C-MAPSS RUL file does not match the test engines",
            path=str(rul_path),
            expected=f"one line per test unit 1..{len(test)} of {test_path.name}",
            got=f"{len(rul)} lines for units {units[:3]}...{units[-3:]}",
        )
    logger.info("C-MAPSS %s: %d training engines, %d test engines", subset, len(train), len(test))
    return CmapssSubset(subset, tuple(train), tuple(test), rul)
