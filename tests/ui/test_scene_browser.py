"""The 3D scene in a real browser: a pump station and two brackets served by ``twinkit serve``
with the bracket's ROM in shadow mode; the scene draws (pixels vary), a bracket shows its
stress field, and a part turns red when its twin's alert fires."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, login, run_async, screenshot, start_dashboard

from served import wait_for
from twinkit.api import Settings
from twinkit.core import Runtime
from twinkit.examples.bracket import BracketSpec, install_bracket
from twinkit.examples.pumps._demo import install_station
from twinkit.examples.pumps._layout import station_layout
from twinkit.store import SQLiteStore

pytestmark = pytest.mark.integration

# The colour of a part's first material, read through three.js (the scene object is named
# after its twin): "#rrggbb", "vertex" for per-vertex colours, null while not drawn.
PART_COLOUR_JS = """(twin) => {
  const host = document.querySelector('[data-testid=scene]');
  const scene = host && window['scene_' + host.id];
  const part = scene && scene.getObjectByName(twin);
  if (!part) return null;
  let found = null;
  part.traverse((child) => {
    if (found === null && child.material) {
      found = child.material.vertexColors ? 'vertex' : '#' + child.material.color.getHexString();
    }
  });
  return found;
}"""


async def _seed(data: Path) -> None:
    """The station and two brackets, put in before the server starts (its ROM binding needs
    the Bracket model to be there); ``bracket-weak`` has a yield strength its simulator
    refuses, so its first load reading fails the shadow and raises an alert."""
    store = await SQLiteStore.open(Settings(data_dir=data).database)
    try:
        runtime = await Runtime.open(store)
        try:
            await install_station(runtime, station_layout(3, replay_pump=False))
            await install_bracket(runtime, BracketSpec(), "bracket-1")
            await install_bracket(runtime, BracketSpec(), "bracket-weak")
            await runtime.report("bracket-weak", {"yieldStrength": 0.0}, cause="test")
        finally:
            await runtime.close()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def scene_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    data = tmp_path_factory.mktemp("scene")
    run_async(_seed(data))
    server = start_dashboard(data, "--simulators", "twinkit.examples.bracket:bindings")
    try:
        yield Dashboard(server)
    finally:
        server.stop()


def _publish(port: int, twin_id: str, values: dict[str, float]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"scene-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(f"site/{twin_id}/telemetry", orjson.dumps({"values": values}), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _pixel_spread(png: bytes) -> float:
    """The standard deviation of the grey levels of a screenshot (0 for a blank one)."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std())


def test_the_scene_draws_the_plant_and_a_part_turns_red_on_its_alert(
    page: Page, scene_dashboard: Dashboard
) -> None:
    login(page, scene_dashboard, scene_dashboard.token("viewer"), "/scene")
    expect(page.get_by_test_id("scene-count")).to_have_text("11 parts")
    colour = lambda twin: page.evaluate(PART_COLOUR_JS, twin)  # noqa: E731
    drawn = ("pump-1", "tank-1", "bracket-1", "bracket-weak")
    wait_for(lambda: None not in map(colour, drawn), 15, "every part's mesh to load")
    assert colour("tank-1") == "#b0bec5"
    assert colour("bracket-1") == "vertex", "the bracket shows its stress field"
    assert colour("bracket-weak") == "vertex"
    assert _pixel_spread(page.get_by_test_id("scene").screenshot()) > 10.0

    _publish(scene_dashboard.mqtt_port, "bracket-1", {"loadVertical": 8000.0})
    expect(page.get_by_test_id("field-peak")).not_to_have_text("0 MPa", timeout=15_000)
    _publish(scene_dashboard.mqtt_port, "bracket-weak", {"loadVertical": 5000.0})
    wait_for(lambda: colour("bracket-weak") == "#e53935", 15, "bracket-weak to turn red")
    assert colour("bracket-1") == "vertex", "only the twin with the alert turns red"
    screenshot(page, "scene")


def test_colouring_by_a_property_shows_a_legend_and_a_click_opens_the_twin(
    page: Page, scene_dashboard: Dashboard
) -> None:
    login(page, scene_dashboard, scene_dashboard.token("viewer"), "/scene/tank-1")
    expect(page.get_by_test_id("scene-count")).to_have_text("6 parts")  # tank, pipes, valve
    page.get_by_test_id("scene-colour-by").click()
    page.get_by_role("option", name="height (metre)").click()
    expect(page.get_by_test_id("scene-legend")).to_contain_text("4 metre")
    colour = lambda twin: page.evaluate(PART_COLOUR_JS, twin)  # noqa: E731
    wait_for(lambda: colour("tank-1") not in (None, "#b0bec5"), 10, "the tank to take a colour")
    box = page.get_by_test_id("scene").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/ui/twins/tank-1")


def test_the_scene_says_when_the_plant_changed_and_redraws_on_a_click(
    page: Page, scene_dashboard: Dashboard
) -> None:
    login(page, scene_dashboard, scene_dashboard.token("viewer"), "/scene")
    expect(page.get_by_test_id("scene-count")).to_have_text("11 parts")
    expect(page.get_by_test_id("scene-changed")).to_be_hidden()
    with scene_dashboard.client() as api:
        api.put("/twins/pump-9", {"model": "dtmi:twinkit:pumps:Pump;1"})
        api.post("/twins/pump-9/relationships", {"name": "feeds", "target": "pipe-1"})
    changed = page.get_by_test_id("scene-changed")
    expect(changed).to_contain_text("1 twin added")
    expect(changed).to_contain_text("1 twin with changed relationships")
    page.get_by_test_id("scene-redraw").click()
    expect(page.get_by_test_id("scene-count")).to_have_text("12 parts")
    expect(page.get_by_test_id("scene-changed")).to_be_hidden()
    with scene_dashboard.client() as api:
        api.request("DELETE", "/twins/pump-9/relationships/" + _edge_id(api, "pump-9"))
        api.request("DELETE", "/twins/pump-9")
    expect(page.get_by_test_id("scene-changed")).to_contain_text("1 twin deleted")
    page.get_by_test_id("scene-redraw").click()
    expect(page.get_by_test_id("scene-count")).to_have_text("11 parts")


def _edge_id(api: Any, twin_id: str) -> str:
    return str(api.get(f"/twins/{twin_id}/relationships")["items"][0]["id"])
