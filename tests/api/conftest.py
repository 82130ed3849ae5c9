"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import LiveServer


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The API on a free loopback port; WebSocket clients get a queue of 16 events."""
    with LiveServer(tmp_path / "data", stream_queue=16) as server:
        yield server
