"""``/alerts`` and ``/twins/{id}/alerts/{name}/acknowledge|clear``: roles, filters, answers;
and the Python client's ``alerts``, ``acknowledge_alert`` and ``clear_alert``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from api_helpers import MODELS, PUMP, TANK, LiveServer, api

from twinkit import Client, ClientError

RAISER = "predictor:pump-anomaly"


def test_alert_routes_need_their_roles_filter_and_answer(tmp_path: Path) -> None:
    async def go() -> None:
        async with api(tmp_path) as served:
            await served.with_pumps()
            runtime = served.services.runtime
            await runtime.raise_alert("pump-1", "hot", "95 °C", cause=RAISER, severity="error")
            await runtime.raise_alert("tank-1", "low", "0.2 m", cause="rule:level")
            listed = await served.call("GET", "/alerts", "viewer")
            assert listed.status_code == 200, listed.text
            body = listed.json()
            assert body["total"] == 2 and [a["name"] for a in body["items"]] == ["low", "hot"]
            hot = body["items"][1]
            assert hot["twinId"] == "pump-1" and hot["model"] == PUMP
            assert (hot["severity"], hot["message"], hot["raisedBy"]) == ("error", "95 °C", RAISER)
            assert hot["acknowledged"] is None
            for params, names in [
                ({"twin": "pump-1"}, ["hot"]),
                ({"model": TANK}, ["low"]),
                ({"severity": "error"}, ["hot"]),
                ({"severity": "info"}, ["low", "hot"]),
            ]:
                found = await served.call("GET", "/alerts", "viewer", params=params)
                assert [a["name"] for a in found.json()["items"]] == names, params
            bad = await served.call("GET", "/alerts", "viewer", params={"severity": "loud"})
            assert bad.status_code == 422 and "critical" in bad.json()["detail"]
            missing = await served.call("GET", "/alerts", "viewer", params={"twin": "nope"})
            assert missing.status_code == 404
            assert (await served.client.get("/alerts")).status_code == 401

            ack = "/twins/pump-1/alerts/hot/acknowledge"
            refused = await served.call("POST", ack, "viewer", json={"note": "x"})
            assert refused.status_code == 403
            done = await served.call("POST", ack, "operator", json={"note": "on my way"})
            assert done.status_code == 200, done.text
            alert = done.json()
            assert alert["acknowledgedBy"] == f"token:{served.token_ids['operator']}"
            assert alert["note"] == "on my way" and alert["twinId"] == "pump-1"
            twin = (await served.call("GET", "/twins/pump-1", "viewer")).json()
            assert twin["alerts"]["hot"]["note"] == "on my way"  # part of the twin's state

            clear = "/twins/pump-1/alerts/hot/clear"
            assert (await served.call("POST", clear, "viewer")).status_code == 403
            closed = await served.call("POST", clear, "operator", json={"message": "cooled"})
            assert closed.status_code == 200, closed.text
            event = closed.json()
            assert event["type"] == "AlertCleared" and event["data"]["message"] == "cooled"
            again = await served.call("POST", clear, "operator")  # no body: no message
            assert again.status_code == 422
            assert "'hot' of twin 'pump-1'" in again.json()["detail"]
            assert again.json()["where"] == "pump-1/alerts/hot"
            nobody = await served.call("POST", "/twins/nope/alerts/hot/acknowledge", "operator")
            assert nobody.status_code == 404
            extra = await served.call("POST", ack, "operator", json={"severity": "info"})
            assert extra.status_code == 422  # unknown body keys are refused
            left = (await served.call("GET", "/alerts", "viewer")).json()
            assert [a["name"] for a in left["items"]] == ["low"]

    asyncio.run(go())


def test_the_client_lists_acknowledges_and_clears(live_server: LiveServer) -> None:
    server = live_server
    services = server.services
    assert services is not None

    async def prepare() -> None:
        runtime = services.runtime
        await runtime.add_models(MODELS)
        await runtime.create_twin("pump-1", PUMP, cause="token:admin")
        await runtime.create_twin("tank-1", TANK, cause="token:admin")
        await runtime.raise_alert("pump-1", "hot", "95 °C", cause=RAISER, severity="critical")
        await runtime.raise_alert("tank-1", "low", "0.2 m", cause="rule:level")

    server.run_in_loop(prepare())
    with Client(server.url, server.secrets["operator"]) as client:
        frame = client.alerts()
        assert list(frame["name"]) == ["low", "hot"]
        assert list(frame.columns[:3]) == ["twinId", "model", "name"]
        assert isinstance(frame["raised"].dtype, pd.DatetimeTZDtype)
        assert frame["acknowledged"].isna().all()
        assert list(client.alerts(severity="critical")["twinId"]) == ["pump-1"]
        assert list(client.alerts("tank-1")["name"]) == ["low"]
        assert client.alerts(model=PUMP).shape[0] == 1
        alert = client.acknowledge_alert("pump-1", "hot", "looking")
        assert alert["note"] == "looking" and alert["acknowledgedBy"].startswith("token:")
        assert client.alerts("pump-1")["acknowledged"].notna().all()
        event = client.clear_alert("pump-1", "hot", "replaced the bearing")
        assert event["type"] == "AlertCleared" and event["data"]["name"] == "hot"
        with pytest.raises(ClientError, match="not open") as caught:
            client.clear_alert("pump-1", "hot")
        assert caught.value.status == 422
        assert list(client.alerts()["name"]) == ["low"]
    with Client(server.url, server.secrets["viewer"]) as viewer:
        assert viewer.alerts().shape == (1, 11)
        with pytest.raises(ClientError) as no:
            viewer.clear_alert("tank-1", "low")
    assert no.value.status == 403
