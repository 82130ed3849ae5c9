"""Learned models through the REST API: train with a factory, poll, activate, serve, read a
twin's predictions, deactivate and delete; roles and errors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from api_helpers import Api, api

from predict_models import PUMP, make_zscore, pumps, send


async def prepared(api_: Api) -> None:
    """Two pumps with 30 s of normal temperatures, a zscore factory, serving started."""
    runtime = api_.services.runtime
    await pumps(runtime, "pump-1", "pump-2")
    for t in range(1, 31):
        for twin in ("pump-1", "pump-2"):
            await send(runtime, twin, 1000.0 + t, temp=20.0 + (t % 3) - 1)
    api_.services.predictions.factories.add("zscore", make_zscore)
    await api_.services.predictions.start()


async def until_done(api_: Api, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer = await api_.call("GET", location.removeprefix("/api/v1"), "viewer")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.02)


TRAIN = {"factory": "zscore", "model": PUMP, "params": {"k": 3.0}, "start": 1000, "end": 2000}


def test_train_activate_serve_and_forget_a_detector(tmp_path: Path) -> None:
    async def go() -> None:
        async with api(tmp_path) as a:
            await prepared(a)
            listed = (await a.call("GET", "/predictors", "viewer")).json()
            assert listed["items"] == []
            factories = {f["name"]: f for f in listed["factories"]}
            assert factories["zscore"] == {
                "name": "zscore",
                "target": "predict_models:make_zscore",
                "doc": "The factory the API and CLI tests train with.",
            }
            assert "default-detector" in factories  # installed by twinkit's entry points

            answer = await a.call("POST", "/predictors/pump-anomaly/train", "operator", json=TRAIN)
            assert answer.status_code == 202, answer.text
            started = answer.json()
            assert started["status"] == "queued" and started["name"] == "pump-anomaly"
            assert started["cause"] == f"token:{a.token_ids['operator']}"
            location = answer.headers["location"]
            assert location == f"/api/v1/predictors/pump-anomaly/jobs/{started['id']}"
            job = await until_done(a, location)
            assert (job["status"], job["version"], job["progress"], job["error"]) == (
                "done",
                1,
                1.0,
                None,
            )

            listed = (await a.call("GET", "/predictors", "viewer")).json()
            (item,) = listed["items"]
            assert (item["name"], item["active"], item["latest"], item["serving"]) == (
                "pump-anomaly",
                None,
                1,
                False,
            )
            found = (await a.call("GET", "/predictors/pump-anomaly", "viewer")).json()
            (version,) = found["items"]
            assert version["kind"] == "detector" and version["factory"] == "zscore"
            assert version["params"] == {"k": 3.0} and version["inputs"] == ["temp"]
            assert version["training"]["twins"] == ["pump-1", "pump-2"]
            assert version["metrics"]["training_rows"] == 60.0
            assert found["status"] is None and found["jobs"][0]["id"] == started["id"]

            answer = await a.call(
                "POST", "/predictors/pump-anomaly/activate", "operator", json={"version": 1}
            )
            assert answer.status_code == 200 and answer.json()["active"] is True
            predictions = a.services.predictions
            await predictions.runner.settle()
            await send(a.services.runtime, "pump-1", 1100.0, temp=30.0)
            await predictions.runner.settle()
            served = (await a.call("GET", "/predictors/pump-anomaly", "viewer")).json()
            assert served["serving"] and served["status"]["version"] == 1
            assert served["status"]["updates"] == 1 and served["status"]["latencyMs"]["p50"] > 0

            answer = await a.call("GET", "/twins/pump-1/predictions", "viewer")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            (latest,) = body["predictions"]
            assert (latest["predictor"], latest["version"], latest["anomalous"]) == (
                "pump-anomaly",
                1,
                True,
            )
            assert latest["threshold"] == 3.0 and latest["alarmed"] == ["anomaly"]
            assert body["values"]["anomaly_score"]["time"] == 1100.0
            assert body["values"]["anomaly_threshold"]["value"] == 3.0
            assert (await a.call("GET", "/twins/pump-2/predictions", "viewer")).json()[
                "predictions"
            ] == []

            path = "/predictors/pump-anomaly/versions/1"
            assert (await a.call("DELETE", path, "operator")).status_code == 403
            answer = await a.call("DELETE", path, "admin")
            assert answer.status_code == 409 and "is active" in answer.json()["detail"]
            answer = await a.call("POST", "/predictors/pump-anomaly/deactivate", "operator")
            assert answer.status_code == 204
            await predictions.runner.settle()
            assert predictions.runner.served() == []
            assert (await a.call("DELETE", path, "admin")).status_code == 204
            answer = await a.call("GET", "/predictors/pump-anomaly", "viewer")
            assert answer.status_code == 404 and answer.json()["error"] == "not_found"

    asyncio.run(go())


def test_bad_requests_roles_and_failed_trainings_say_why(tmp_path: Path) -> None:
    async def go() -> None:
        async with api(tmp_path) as a:
            await prepared(a)
            url = "/predictors/pump-anomaly/train"
            assert (await a.call("POST", url, "viewer", json=TRAIN)).status_code == 403
            answer = await a.call("POST", url, "operator", json={**TRAIN, "factory": "oracle"})
            assert answer.status_code == 404 and "no factory 'oracle'" in answer.json()["detail"]
            answer = await a.call("POST", url, "operator", json={"factory": "zscore"})
            assert answer.status_code == 422 and answer.json()["where"] == "model"
            answer = await a.call("POST", url, "operator", json={**TRAIN, "epochs": 3})
            assert answer.status_code == 422 and answer.json()["where"] == "epochs"
            answer = await a.call("POST", url, "operator", json={**TRAIN, "model": "dtmi:x:Y;1"})
            assert answer.status_code == 404
            bad_name = "/predictors/no%20spaces/train"
            assert (await a.call("POST", bad_name, "operator", json=TRAIN)).status_code == 422
            answer = await a.call(
                "POST", url, "operator", json={**TRAIN, "limits": {"rul": {"under": 3}}}
            )
            assert answer.status_code == 422 and answer.json()["where"] == "limits/rul"

            failing = [
                ({**TRAIN, "start": 0, "end": 10}, "no history of ['temp'] to train from"),
                ({**TRAIN, "params": {"inputs": ["label"]}}, "inputs a model cannot learn from"),
                ({**TRAIN, "params": {"window": "x"}}, "bad model window; at: factory zscore"),
            ]
            for body, reason in failing:
                answer = await a.call("POST", url, "operator", json=body)
                assert answer.status_code == 202, answer.text
                job = await until_done(a, answer.headers["location"])
                assert job["status"] == "failed" and reason in job["error"], job
            jobs = (await a.call("GET", "/predictors/pump-anomaly/jobs", "viewer")).json()
            assert [job["status"] for job in jobs["items"]] == ["failed"] * 3
            answer = await a.call("GET", "/predictors/pump-anomaly/jobs/nope", "viewer")
            assert answer.status_code == 404
            answer = await a.call(
                "POST", "/predictors/pump-anomaly/activate", "operator", json={"version": 0}
            )
            assert answer.status_code == 422
            answer = await a.call(
                "POST", "/predictors/pump-anomaly/activate", "operator", json={"version": 1}
            )
            assert answer.status_code == 404
            answer = await a.call("GET", "/twins/nope/predictions", "viewer")
            assert answer.status_code == 404

    asyncio.run(go())
