"""The API's small parts: settings precedence, JSON Patch reading, If-Match, log redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import twinkit.api
from twinkit.api import Role, Settings
from twinkit.api._schemas import PatchOp, parse_if_match, patch_to_report
from twinkit.api._stream import RedactTokens
from twinkit.errors import ValidationError


def test_api_all_lists_existing_names_sorted() -> None:
    names = list(twinkit.api.__all__)
    assert names == sorted(set(names))
    assert all(hasattr(twinkit.api, name) for name in names)


def test_settings_flags_over_environment_over_defaults() -> None:
    assert Settings.load({}, env={}) == Settings()
    env = {"TWINKIT_PORT": "9001", "TWINKIT_DATA_DIR": "/srv/twins", "TWINKIT_HOST": ""}
    loaded = Settings.load({"port": None, "mqtt_url": "mqtt://broker:1883"}, env=env)
    assert loaded.port == 9001 and loaded.data_dir == Path("/srv/twins")
    assert loaded.host == "127.0.0.1" and loaded.mqtt_url == "mqtt://broker:1883"
    assert Settings.load({"port": 8123}, env=env).port == 8123
    assert Settings.load({}, env=env).database == Path("/srv/twins/twinkit.db")


@pytest.mark.parametrize(
    ("flags", "env", "where"),
    [
        ({}, {"TWINKIT_PORT": "eighty"}, "TWINKIT_PORT"),
        ({"port": 70000}, {}, "port"),
        ({"stream_queue": 0}, {}, "stream_queue"),
        ({"colour": "blue"}, {}, "colour"),
    ],
)
def test_bad_settings_name_the_key(
    flags: dict[str, object], env: dict[str, str], where: str
) -> None:
    with pytest.raises(ValidationError) as error:
        Settings.load(flags, env=env)
    assert error.value.path == where


def test_json_patch_becomes_values_and_removals() -> None:
    ops = [
        PatchOp(op="add", path="/speed", value=3),
        PatchOp(op="replace", path="/a~1b", value=None),
        PatchOp(op="remove", path="/label"),
    ]
    assert patch_to_report("p", ops) == ({"speed": 3, "a/b": None}, ["label"])
    with pytest.raises(ValidationError, match="unsupported JSON Patch operation") as error:
        patch_to_report("p", [PatchOp(op="test", path="/speed", value=3)])
    assert error.value.path == "twin p patch[0]"
    with pytest.raises(ValidationError, match="path"):
        patch_to_report("p", [PatchOp(op="add", path="speed", value=3)])


@pytest.mark.parametrize(
    ("header", "version"), [(None, None), ("*", None), ("7", 7), ('"7"', 7), ('W/"7"', 7)]
)
def test_if_match_versions(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    with pytest.raises(ValidationError, match="unknown role"):
        Role.parse("root")


def test_token_query_values_are_redacted_from_log_lines() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/v1/stream?twins=a&token=tk_SECRET&types=x"),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == (
        '127.0.0.1:5000 - "WebSocket /api/v1/stream?twins=a&token=<redacted>&types=x" [accepted]'
    )
