"""``twinkit demo turbofan``: its options, and bad C-MAPSS folders refused before anything
starts, with what was expected and where."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from twinkit.cli._demo import turbofan


def test_the_command_offers_the_demo_options() -> None:
    result = CliRunner().invoke(turbofan, ["--help"])
    assert result.exit_code == 0, result.output
    for option in (
        "--state",
        "--data",
        "--subset",
        "--port",
        "--engines",
        "--speedup",
        "--threshold",
        "--duration",
    ):
        assert option in result.output, option
    refused = CliRunner().invoke(turbofan, ["--speedup", "0"])
    assert refused.exit_code == 2 and "--speedup" in refused.output
    unknown = CliRunner().invoke(turbofan, ["--subset", "FD009"])
    assert unknown.exit_code == 2 and "FD009" in unknown.output


def test_a_folder_without_the_subset_fails_before_anything_starts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    empty = tmp_path / "cmapss"
    empty.mkdir()
    result = CliRunner().invoke(
        turbofan, ["--state", str(state), "--port", "0", "--data", str(empty)]
    )
    assert result.exit_code == 1, result.output
    assert "train_FD001.txt or train_FD001.txt.gz not found in" in result.output
    assert str(empty) in result.output
    assert not state.exists()  # no store, no broker, no training
    missing = CliRunner().invoke(turbofan, ["--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_malformed_file_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "cmapss"
    folder.mkdir()
    row = " ".join(["1", "1"] + ["0.5"] * 24)
    (folder / "train_FD003.txt").write_text(f"{row}\n1 2 0.5 oops\n", encoding="ascii")
    (folder / "test_FD003.txt").write_text(f"{row}\n", encoding="ascii")
    (folder / "RUL_FD003.txt").write_text("12\n", encoding="ascii")
    state = tmp_path / "state"
    result = CliRunner().invoke(
        turbofan, ["--state", str(state), "--data", str(folder), "--subset", "FD003"]
    )
    assert result.exit_code == 1, result.output
    assert f"{folder / 'train_FD003.txt'}:2" in result.output and "26" in result.output
    assert not state.exists()
