"""``twinkit.Client`` against a real server on a loopback socket (uvicorn, SQLite)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import numpy as np
import pandas as pd
import pytest
from api_helpers import MODELS, PUMP, TANK, LiveServer

import twinkit
from twinkit import Client, ClientError
from twinkit.api._client_frames import query_frame, seconds
from twinkit.errors import ValidationError

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


class CountingTransport(httpx.HTTPTransport):
    """The real HTTP transport, remembering what it sent (to see pages being followed)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


def admin(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {server.secrets['admin']}"},
        timeout=10,
    )


def plant(server: LiveServer, pumps: int = 5) -> None:
    """Models, pump-1..n (speed 10, 20, ...), tank-1, and pump-1 feeds tank-1."""
    with admin(server) as http:
        assert http.post("/models", json=MODELS).status_code == 201
        for i in range(1, pumps + 1):
            answer = http.put(f"/twins/pump-{i}", json={"model": PUMP})
            assert answer.status_code == 201, answer.text
            patch = [{"op": "add", "path": "/speed", "value": float(i * 10)}]
            assert http.patch(f"/twins/pump-{i}", json=patch).status_code == 200
        assert http.put("/twins/tank-1", json={"model": TANK}).status_code == 201
        edge = {"name": "feeds", "target": "tank-1", "id": "f1"}
        assert http.post("/twins/pump-1/relationships", json=edge).status_code == 201


def ingest(server: LiveServer, twin_id: str, name: str, values: list[float]) -> None:
    """One point a second from T0."""
    records = [
        {"twinId": twin_id, "ts": T0 + i, "values": {name: value}} for i, value in enumerate(values)
    ]
    with admin(server) as http:
        answer = http.post("/ingest", json=records)
        assert answer.status_code == 200, answer.text[:500]


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, live_server.secrets["viewer"]) as viewer:
        yield viewer


def test_import_twinkit_stays_light_and_client_loads_on_first_use() -> None:
    code = (
        "import sys, twinkit\n"
        "assert 'twinkit.api' not in sys.modules and 'pandas' not in sys.modules\n"
        "assert 'Client' in twinkit.__all__ and 'Client' in dir(twinkit)\n"
        "from twinkit import Client\n"
        "assert Client.__module__ == 'twinkit.api._client' and 'pandas' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert twinkit.Client is Client and issubclass(ClientError, twinkit.TwinkitError)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = twinkit.Nope


def test_query_follows_continuation_tokens_into_frames(live_server: LiveServer) -> None:
    plant(live_server)
    transport = CountingTransport()
    with Client(live_server.url, live_server.secrets["viewer"], transport=transport) as client:
        twins = client.query(
            f"SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{PUMP}')", page_size=2
        )
        assert len(transport.sent) == 3  # 2 + 2 + 1 rows
        assert list(twins["$dtId"]) == [f"pump-{i}" for i in range(1, 6)]
        assert set(twins["model"]) == {PUMP}
        assert list(twins["speed"]) == [10.0, 20.0, 30.0, 40.0, 50.0]
        assert not any(c.startswith("$metadata") or c == "$etag" for c in twins.columns)

        fast = client.query("SELECT T.$dtId AS id, T.speed FROM DIGITALTWINS T WHERE T.speed > 25")
        assert fast.to_dict("records") == [
            {"id": "pump-3", "speed": 30.0},
            {"id": "pump-4", "speed": 40.0},
            {"id": "pump-5", "speed": 50.0},
        ]
        count = client.query("SELECT COUNT() FROM DIGITALTWINS")
        assert count.shape == (1, 1) and count.loc[0, "COUNT"] == 6

        hop = client.query(
            "SELECT P, T, R FROM DIGITALTWINS P JOIN T RELATED P.feeds R WHERE P.speed < 15"
        )
        assert hop.loc[0, "P.$dtId"] == "pump-1" and hop.loc[0, "P.speed"] == 10.0
        assert (hop.loc[0, "T.$dtId"], hop.loc[0, "T.model"]) == ("tank-1", TANK)
        assert (hop.loc[0, "R.$relationshipId"], hop.loc[0, "R.$targetId"]) == ("f1", "tank-1")

        rows = client.query_rows("SELECT T FROM DIGITALTWINS T", page_size=4)
        assert [r["$dtId"] for r in rows] == [*(f"pump-{i}" for i in range(1, 6)), "tank-1"]
        assert rows[0]["$metadata"]["$model"] == PUMP
        assert client.query("SELECT T FROM DIGITALTWINS T WHERE T.speed > 1000").empty

        with pytest.raises(ClientError, match="max_rows=3") as caught:
            client.query("SELECT T FROM DIGITALTWINS T", page_size=2, max_rows=3)
        assert caught.value.kind == "too_many_rows" and caught.value.status is None


def test_query_frame_keeps_metadata_columns_apart_from_same_named_properties() -> None:
    doc = {"$dtId": "a", "$etag": "3", "$metadata": {"$model": "dtmi:x;1"}, "model": "X-7", "n": 1}
    assert query_frame([doc]).to_dict("records") == [
        {"$dtId": "a", "model": "dtmi:x;1", "properties.model": "X-7", "n": 1}
    ]
    assert query_frame([]).empty


def test_twin_and_twins(live_server: LiveServer, client: Client) -> None:
    plant(live_server, pumps=3)
    twin = client.twin("pump-2")
    assert (twin["id"], twin["model"]) == ("pump-2", PUMP)
    assert twin["properties"]["speed"]["reported"] == 20.0
    transport = CountingTransport()
    with Client(live_server.url, live_server.secrets["viewer"], transport=transport) as paged:
        every = paged.twins(page_size=2)
    assert len(transport.sent) == 2
    assert list(every["id"]) == ["pump-1", "pump-2", "pump-3", "tank-1"]
    assert list(every.columns[:3]) == ["id", "model", "version"]
    assert every.set_index("id").loc["pump-3", "speed"] == 30.0
    assert every.set_index("id")["speed"].isna().tolist() == [False, False, False, True]
    tanks = client.twins(model=TANK)
    assert list(tanks["id"]) == ["tank-1"] and "speed" not in tanks.columns
    assert client.twins(model="dtmi:example:Nothing;1").empty


def test_series_raw_pages_buckets_and_frames(live_server: LiveServer) -> None:
    plant(live_server, pumps=2)
    ingest(live_server, "pump-1", "temp", [float(i) for i in range(120)])
    ingest(live_server, "pump-2", "temp", [float(2 * i) for i in range(60)])
    transport = CountingTransport()
    with Client(live_server.url, live_server.secrets["viewer"], transport=transport) as client:
        raw = client.series("pump-1", "temp", T0, T0 + 120, page_size=50)
        assert len(transport.sent) == 3  # 50 + 50 + 20 points
        assert raw.name == "temp" and list(raw) == [float(i) for i in range(120)]
        assert isinstance(raw.index, pd.DatetimeIndex) and str(raw.index.tz) == "UTC"
        assert raw.index[0] == pd.Timestamp(T0, unit="s", tz="UTC")
        assert raw.index[-1] == pd.Timestamp(T0 + 119, unit="s", tz="UTC")

        naive = datetime(2023, 11, 14, 22, 13, 20)  # UTC
        paris = datetime(2023, 11, 14, 23, 14, 0, tzinfo=timezone(timedelta(hours=1)))
        window = client.series("pump-1", "temp", naive, paris)
        assert list(window) == [float(i) for i in range(40)]
        same = client.series("pump-1", "temp", "2023-11-14T22:13:20Z", str(T0 + 40))
        assert same.equals(window)
        assert client.series("pump-1", "temp", T0 + 500, T0 + 600).empty

        # Buckets lie on multiples of the width since the epoch: T0 is 20 s past a minute.
        counts = client.series("pump-1", "temp", T0, T0 + 120, width=60, agg="count")
        assert list(counts) == [40.0, 60.0, 20.0]
        assert list(counts.index) == [
            pd.Timestamp(T0 - 20 + 60 * k, unit="s", tz="UTC") for k in range(3)
        ]
        means = client.series("pump-1", "temp", T0, T0 + 120, width=timedelta(minutes=1))
        assert list(means) == [19.5, 69.5, 109.5]

        table = client.frame(
            [("pump-1", "temp"), ("pump-2", "temp")], T0, T0 + 120, width=30, agg="max"
        )
        assert list(table.columns) == ["pump-1/temp", "pump-2/temp"]
        assert isinstance(table.index, pd.DatetimeIndex) and str(table.index.tz) == "UTC"
        assert table.index.name == "time"
        assert table["pump-1/temp"].max() == 119.0 and table["pump-2/temp"].max() == 118.0
        assert table["pump-2/temp"].isna().sum() == 2  # pump-2 stops after a minute
        filled = client.frame(
            [("pump-2", "temp")], T0, T0 + 120, width=30, agg="max", fill="previous"
        )
        assert list(filled["pump-2/temp"].iloc[-2:]) == [118.0, 118.0]


def test_as_of_diff_and_history(live_server: LiveServer) -> None:
    plant(live_server, pumps=1)
    with Client(live_server.url, live_server.secrets["admin"]) as client:
        labels = ["first", "second", "third"]
        times = []
        for label in labels:
            client.request(
                "PATCH", "/twins/pump-1", json=[{"op": "add", "path": "/label", "value": label}]
            )
            time.sleep(0.02)
            times.append(time.time())
            time.sleep(0.02)

        then = client.as_of(times[0], "pump-1")
        assert then["properties"]["label"]["reported"] == "first"
        at_second = client.as_of(datetime.fromtimestamp(times[1], UTC), "pump-1")
        assert at_second["properties"]["label"]["reported"] == "second"

        graph = client.as_of(times[0])
        assert list(graph["id"]) == ["pump-1", "tank-1"]
        assert graph.set_index("id").loc["pump-1", "label"] == "first"
        assert list(graph.columns[:3]) == ["id", "model", "version"]

        changes = client.diff(times[0], times[2])
        relabelled = changes[(changes["kind"] == "reported") & (changes["name"] == "label")]
        assert relabelled[["twin_id", "before", "after"]].values.tolist() == [
            ["pump-1", "first", "third"]
        ]
        assert client.diff(times[2], times[2] + 1, twin_id="tank-1").empty

        transport = CountingTransport()
        with Client(live_server.url, live_server.secrets["viewer"], transport=transport) as viewer:
            history = viewer.history("pump-1", "label", page_size=2)
        assert len(transport.sent) == 2
        assert list(history["value"]) == labels  # oldest first
        assert set(history["cause"]) == {f"token:{live_server.token_ids['admin']}"}
        assert str(history["time"].dt.tz) == "UTC" and history["time"].is_monotonic_increasing
        newest = client.history("pump-1", "label", start=times[0], newest_first=True)
        assert list(newest["value"]) == ["third", "second"]
        assert client.history("pump-1", "label", start=times[2] + 1).empty


def test_errors_carry_the_servers_error_detail_and_where(live_server: LiveServer) -> None:
    plant(live_server, pumps=1)
    with Client(live_server.url, live_server.secrets["viewer"]) as viewer:
        with pytest.raises(ClientError) as caught:
            viewer.query("SELECT T FORM DIGITALTWINS T")
        error = caught.value
        assert (error.status, error.kind) == (422, "validation")
        assert "line 1, column 10" in str(error) and "FORM" in error.detail
        assert error.body["error"] == "validation"

        with pytest.raises(ClientError) as caught:
            viewer.twin("pump-9")
        assert (caught.value.status, caught.value.kind) == (404, "not_found")
        assert "pump-9" in str(caught.value)
        with pytest.raises(ClientError) as caught:
            viewer.as_of(T0 - 1e6, "pump-1")
        assert caught.value.status == 404

        with pytest.raises(ClientError) as caught:
            viewer.put("/twins/pump-1/properties/speed/desired", {"value": 1.0})
        assert (caught.value.status, caught.value.kind) == (403, "forbidden")
        assert "role" in str(caught.value)

        with pytest.raises(ValidationError, match="malformed time"):
            viewer.series("pump-1", "temp", "yesterday", T0)
        with pytest.raises(ValidationError, match="bucket width"):
            viewer.series("pump-1", "temp", T0, T0 + 1, width=0)

    for token in (None, "not-a-token"):
        with Client(live_server.url, token) as anonymous, pytest.raises(ClientError) as caught:
            anonymous.query("SELECT T FROM DIGITALTWINS T")
        assert (caught.value.status, caught.value.kind) == (401, "unauthenticated")
        assert "TWINKIT_TOKEN" in str(caught.value)


def test_unreachable_and_silent_servers_and_bad_urls_say_so() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", "x") as client, pytest.raises(ClientError) as caught:
        client.twin("pump-1")
    assert (caught.value.status, caught.value.kind) == (None, "unreachable")
    assert "twinkit serve" in str(caught.value) and str(port) in str(caught.value)

    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with Client(url, "x", timeout=0.3) as client, pytest.raises(ClientError) as caught:
            client.twins()
    assert caught.value.kind == "timeout" and "0.3 s" in str(caught.value)

    for bad in ("127.0.0.1:8000", "ftp://host", ""):
        with pytest.raises(ClientError, match="bad server URL") as caught:
            Client(bad, "x")
        assert caught.value.kind == "bad_url"


def test_times_are_seconds_datetimes_or_iso_strings() -> None:
    assert seconds(T0, "t") == seconds(float(T0), "t") == float(T0)
    assert seconds("2023-11-14T22:13:20Z", "t") == T0
    assert seconds("2023-11-14T23:13:20+01:00", "t") == T0
    assert seconds(datetime(2023, 11, 14, 22, 13, 20), "t") == T0  # naive is UTC
    assert seconds(pd.Timestamp(T0, unit="s"), "t") == T0
    assert seconds(np.datetime64(T0, "s"), "t") == T0
    for bad in (True, float("nan"), "soon", None, np.datetime64("NaT")):
        with pytest.raises(ValidationError) as caught:
            seconds(bad, "start")  # type: ignore[arg-type]
        assert caught.value.path == "start"


class _NotTwinkit(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>bad gateway</html>")

    def log_message(self, *args: object) -> None:
        pass


def test_an_answer_that_is_not_twinkits_says_so() -> None:
    server = HTTPServer(("127.0.0.1", 0), _NotTwinkit)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Client(url, "x") as client, pytest.raises(ClientError) as caught:
            client.twin("pump-1")
    finally:
        server.shutdown()
        server.server_close()
    assert (caught.value.status, caught.value.kind) == (502, "http")
    assert "is this a twinkit server?" in str(caught.value) and "bad gateway" in str(caught.value)
