"""C-MAPSS readers: the 26 columns, plain and gzipped files, malformed lines with their number."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._cmapss import (
    CMAPSS_COLUMNS,
    CMAPSS_SENSORS,
    CMAPSS_SETTINGS,
    engine_frames,
    load_cmapss,
    read_cmapss,
    read_rul,
)


def line(unit: int, cycle: int, base: float = 0.0) -> str:
    settings = "-0.0007 -0.0004 100.0"
    sensors = " ".join(f"{base + 500 + n:.2f}" for n in range(21))
    return f"{unit} {cycle} {settings} {sensors} "  # the NASA files end lines with spaces


def write(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("ascii")))
    else:
        path.write_text(text, encoding="ascii")
    return path


def small_subset(folder: Path, *, gz: bool) -> None:
    suffix = ".txt.gz" if gz else ".txt"
    write(folder / f"train_FD001{suffix}", [line(u, c) for u in (1, 2) for c in range(1, 8)])
    write(folder / f"test_FD001{suffix}", [line(u, c) for u in (1, 2) for c in range(1, 4)])
    write(folder / f"RUL_FD001{suffix}", ["12", "40"])


def test_columns_and_types(tmp_path: Path) -> None:
    table = read_cmapss(write(tmp_path / "train_FD001.txt", [line(1, 1), line(1, 2), line(2, 1)]))
    assert tuple(table.columns) == CMAPSS_COLUMNS
    assert len(CMAPSS_COLUMNS) == 26
    assert table["unit"].dtype == np.int64 and table["cycle"].dtype == np.int64
    assert table["unit"].tolist() == [1, 1, 2]
    assert table["s21"].tolist() == [520.0, 520.0, 520.0]
    assert table["setting3"].iloc[0] == 100.0


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_load_subset_plain_or_gzipped(tmp_path: Path, gz: bool) -> None:
    small_subset(tmp_path, gz=gz)
    subset = load_cmapss(tmp_path, "FD001")
    assert len(subset.train) == 2 and len(subset.test) == 2
    assert subset.test_rul.tolist() == [12.0, 40.0]
    engine = subset.train[1]
    assert engine.attrs["unit"] == 2
    assert engine.index.name == "time"
    assert engine.index.tolist() == [float(c) for c in range(1, 8)]
    assert list(engine.columns) == ["cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS]
    assert engine["cycle"].tolist() == engine.index.tolist()


def test_a_line_with_too_few_fields_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "train_FD001.txt", [line(1, 1), line(1, 2), "1 3 0.1 0.2"])
    with pytest.raises(ValidationError) as caught:
        read_cmapss(path)
    assert caught.value.path == f"{path}:3"
    assert "26 space-separated numbers" in str(caught.value)
    assert "got: '1 3 0.1 0.2'" in str(caught.value)


def test_a_field_that_is_no_number_names_its_line_in_a_gzipped_file(tmp_path: Path) -> None:
    bad = line(1, 2).replace("100.0", "1OO.0")
    path = write(tmp_path / "test_FD001.txt.gz", [line(1, 1), bad, line(1, 3)])
    with pytest.raises(ValidationError) as caught:
        read_cmapss(path)
    assert caught.value.path == f"{path}:2"
    assert caught.value.got == "1OO.0"


def test_blank_lines_are_skipped_and_numbered(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", [line(1, 1), "", line(1, 2), "1 x"])
    with pytest.raises(ValidationError) as caught:
        read_cmapss(path)
    assert caught.value.path == f"{path}:4"


@pytest.mark.parametrize(
    ("rows", "bad_line", "message"),
    [
        ([line(1, 1), line(1, 1)], 2, "cycles must rise"),
        ([line(1, 1), line(1, 3), line(1, 2)], 3, "cycles must rise"),
        ([line(1, 1), "1.5" + line(1, 2)[1:]], 2, "positive integers"),
        ([line(0, 1)], 1, "positive integers"),
        ([line(1, 1), line(1, 2).replace("500.00", "nan")], 2, "not finite"),
    ],
)
def test_bad_values_name_their_line(
    tmp_path: Path, rows: list[str], bad_line: int, message: str
) -> None:
    path = write(tmp_path / "t.txt", rows)
    with pytest.raises(ValidationError, match=message) as caught:
        read_cmapss(path)
    assert caught.value.path == f"{path}:{bad_line}"


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no data"):
        read_cmapss(write(tmp_path / "empty.txt", [""]))
    with pytest.raises(NotFoundError, match=r"missing\.txt"):
        read_cmapss(tmp_path / "missing.txt")
    with pytest.raises(NotFoundError, match="train_FD003"):
        load_cmapss(tmp_path, "FD003")
    with pytest.raises(ValidationError, match="unknown C-MAPSS subset"):
        load_cmapss(tmp_path, "FD009")


def test_a_corrupt_gzip_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValidationError, match="cannot be read") as caught:
        read_cmapss(path)
    assert caught.value.path == str(path)


def test_rul_file_checks(tmp_path: Path) -> None:
    assert read_rul(write(tmp_path / "r.txt", ["7", "145 "])).tolist() == [7.0, 145.0]
    with pytest.raises(ValidationError) as caught:
        read_rul(write(tmp_path / "r2.txt", ["7", "-3"]))
    assert caught.value.path == f"{tmp_path / 'r2.txt'}:2"
    with pytest.raises(ValidationError) as caught:
        read_rul(write(tmp_path / "r3.txt", ["7", "3 4"]))
    assert caught.value.path == f"{tmp_path / 'r3.txt'}:2"


def test_rul_file_must_match_the_test_engines(tmp_path: Path) -> None:
    small_subset(tmp_path, gz=False)
    write(tmp_path / "RUL_FD001.txt", ["12"])
    with pytest.raises(ValidationError, match="does not match the test engines"):
        load_cmapss(tmp_path, "FD001")


def test_engine_frames_need_the_columns(tmp_path: Path) -> None:
    table = read_cmapss(write(tmp_path / "t.txt", [line(1, 1)])).drop(columns=["s4"])
    with pytest.raises(ValidationError, match="lacks C-MAPSS columns") as caught:
        engine_frames(table)
    assert caught.value.got == ["s4"]


def test_the_real_fd001_and_fd003(shared_data: Path) -> None:
    for name, train_rows, test_rows in (("FD001", 20631, 13096), ("FD003", 24720, 16596)):
        subset = load_cmapss(shared_data / "cmapss", name)
        assert len(subset.train) == len(subset.test) == len(subset.test_rul) == 100
        assert sum(len(frame) for frame in subset.train) == train_rows
        assert sum(len(frame) for frame in subset.test) == test_rows
        assert [frame.attrs["unit"] for frame in subset.test] == list(range(1, 101))
        assert subset.test_rul.min() >= 6 and subset.test_rul.max() <= 145
