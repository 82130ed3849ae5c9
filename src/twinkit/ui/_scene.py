"""The 3D scene page: the plant's twins as parts, laid out as the plant is, coloured live by a
chosen property and by open alerts; a click on a part opens its twin (docs/dashboard.md).

``/scene`` shows every twin (up to :data:`MAX_PARTS`), ``/scene/{twin_id}`` one twin with its
contents and neighbours. What is drawn where comes from :func:`plan_scene` (pure); this module
only turns the plan into ``ui.scene`` objects, serves generated shapes and geometry files, and
recolours parts from the live feed.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, Response
from nicegui import app, events, ui
from nicegui.elements.scene.scene_object3d import Object3D

from twinkit.core import Event, EventType, Runtime, Twin
from twinkit.errors import NotFoundError, ValidationError
from twinkit.sim import twin_value
from twinkit.ui._context import UI_PREFIX, page_url, services, twin_url
from twinkit.ui._frame import frame
from twinkit.ui._geometry import PartKind, Shape, shape_from_query, shape_glb
from twinkit.ui._live import live
from twinkit.ui._overview_alerts import AlertBook
from twinkit.ui._scene_colors import (
    ALERT_COLOR,
    ColorScale,
    scale_for,
    vertex_colors,
)
from twinkit.ui._scene_config import (
    SceneConfig,
    geometry_file,
    load_scene_config,
)
from twinkit.ui._scene_field import SurfaceField, field_for
from twinkit.ui._scene_plan import Draw, Part, ScenePlan, colour_choices, plan_scene
from twinkit.ui._session import current_principal, signed_in

__all__ = ["MAX_PARTS", "SceneMesh", "register"]

logger = logging.getLogger(__name__)

MAX_PARTS: Final = 2000
"""Twins drawn at most on one page; more are left out (said on the page)."""
MAX_LABELS: Final = 60
"""Parts get a floating label when the scene has at most this many."""
ALERTS_ONLY: Final = ""
ASSETS: Final = "/scene-assets"
_KIND_COLORS: Final = {
    PartKind.PUMP: "#5c7cfa",
    PartKind.TANK: "#b0bec5",
    PartKind.PIPE: "#78909c",
    PartKind.VALVE: "#8d6e63",
    PartKind.STATION: "#dfe4e8",
    PartKind.GENERIC: "#a1887f",
}
_MEDIA: Final = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".stl": "model/stl",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}
_EVENTS: Final = (
    EventType.TELEMETRY_RECEIVED,
    EventType.PROPERTY_REPORTED,
    EventType.ALERT_RAISED,
    EventType.ALERT_CLEARED,
    EventType.VALUES_DERIVED,
)
_ALERT_EVENTS: Final = (EventType.ALERT_RAISED, EventType.ALERT_CLEARED)
_LINKS: Final = (EventType.RELATIONSHIP_ADDED, EventType.RELATIONSHIP_REMOVED)
_STRUCTURE: Final = (
    EventType.TWIN_CREATED,
    EventType.TWIN_DELETED,
    EventType.RELATIONSHIP_ADDED,
    EventType.RELATIONSHIP_REMOVED,
)


class SceneMesh(Object3D, component=Path(__file__).parent / "static" / "scene_mesh.js"):
    """A triangle mesh (flat positions and indices) with optional 8-bit RGB vertex colours."""

    def __init__(
        self, positions: list[float], indices: list[int], colors: list[int] | None = None
    ) -> None:
        super().__init__(positions, indices, colors)
        if colors is not None:
            self.material(color=None, side="both")

    def set_colors(self, colors: list[int]) -> None:
        """New per-vertex colours (same vertex count); kept for a re-sent scene."""
        self.args[2] = colors
        self.run_method("set_colors", colors)


def _shape_url(shape: Shape) -> str:
    # fetched by three.js, not followed by NiceGUI: the mount prefix is ours to add
    return f"{UI_PREFIX}{ASSETS}/shape.glb?" + urlencode(shape.query())


def _file_url(name: str) -> str:
    return f"{UI_PREFIX}{ASSETS}/files/{quote(name, safe='')}"


def _shape_route(request: Request) -> Response:
    try:
        shape = shape_from_query(dict(request.query_params))
    except ValidationError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    return Response(
        shape_glb(shape),
        media_type="model/gltf-binary",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def _file_route(name: str) -> FileResponse:
    if await current_principal() is None:
        raise HTTPException(status_code=401, detail="sign in to the dashboard first")
    folder = load_scene_config(services().settings.data_dir).geometry_dir
    try:
        path = geometry_file(folder, name, served=tuple(_MEDIA))
    except ValidationError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    except NotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from error
    return FileResponse(path, media_type=_MEDIA.get(path.suffix.lower()))


def register() -> None:
    """Add the scene pages and the routes of their geometry."""
    ui.page("/scene")(_scene_page)
    ui.page("/scene/{twin_id}")(_focused_page)
    app.add_api_route(f"{ASSETS}/shape.glb", _shape_route, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        f"{ASSETS}/files/{{name}}", _file_route, methods=["GET"], include_in_schema=False
    )


async def _scene_page() -> None:
    await _page(None)


async def _focused_page(twin_id: str) -> None:
    await _page(twin_id)


def _neighbourhood(runtime: Runtime, twin_id: str) -> list[Twin]:
    """The twin, the twins it relates to either way, and their containers' plates."""
    ids = {twin_id}
    ids.update(edge.target for edge in runtime.outgoing(twin_id))
    ids.update(edge.source for edge in runtime.incoming(twin_id))
    found = [runtime.find(i) for i in sorted(ids)]
    return [t for t in found if t is not None]


def _config(data_dir: Path) -> tuple[SceneConfig, str | None]:
    try:
        return load_scene_config(data_dir), None
    except ValidationError as error:
        logger.warning("the scene file is broken: %s", error)
        return SceneConfig(), f"scene.json ignored: {error}"


async def _page(twin_id: str | None) -> None:
    principal = await signed_in()
    if principal is None:
        return
    svc = services()
    runtime = svc.runtime
    title = "3D scene" if twin_id is None else f"3D scene · {twin_id}"
    with frame(title, principal):
        if twin_id is not None and runtime.find(twin_id) is None:
            ui.label(f"No twin {twin_id!r}.").props("data-testid=scene-missing")
            ui.link("The whole scene", page_url("/scene"))
            return
        twins = runtime.twins() if twin_id is None else _neighbourhood(runtime, twin_id)
        twins = sorted(twins, key=lambda t: t.id)
        left_out = max(0, len(twins) - MAX_PARTS)
        twins = twins[:MAX_PARTS]
        config, problem = _config(svc.settings.data_dir)
        fields = {}
        for twin in twins:
            found = field_for(twin, runtime.models, svc.bindings)
            if found is not None:
                fields[twin.id] = found
        plan = plan_scene(
            twins,
            runtime.models,
            config,
            shape_url=_shape_url,
            file_url=_file_url,
            fields=fields.keys(),
        )
        book = AlertBook(runtime)
        view = SceneView(runtime, plan, fields, book, focus=twin_id)
        view.build(problem, left_out)
        live(view.on_events, twins=None if twin_id is None else list(view.parts), types=_EVENTS)
        live(view.on_structure, types=_STRUCTURE)
        ui.timer(5.0, view.refresh_alerts)


class SceneView:
    """The scene of one page: its objects by twin, the colouring and the legend."""

    def __init__(
        self,
        runtime: Runtime,
        plan: ScenePlan,
        fields: dict[str, SurfaceField],
        book: AlertBook,
        *,
        focus: str | None,
    ) -> None:
        self.runtime = runtime
        self.plan = plan
        self.parts = {part.twin_id: part for part in plan.parts}
        self.fields = fields
        self.book = book
        self.focus = focus
        self.objects: dict[str, Object3D] = {}
        self.mode = ALERTS_ONLY
        self.values: dict[str, float | None] = {}
        self.scale: ColorScale | None = None
        self.alerts: set[str] = set()
        self.field_peak: dict[str, float] = {}
        self.legend: ui.row | None = None
        self.field_legend: ui.row | None = None
        self.changes: dict[str, set[str]] = {"added": set(), "deleted": set(), "linked": set()}
        self.changed: ui.row | None = None  # says the plant changed since it was drawn

    # --- building ------------------------------------------------------------------------

    def build(self, problem: str | None, left_out: int) -> None:
        models = {part.model for part in self.plan.parts}
        choices = {ALERTS_ONLY: "Alerts only", **colour_choices(self.runtime.models, models)}
        with ui.row().classes("items-center gap-6 w-full"):
            ui.select(
                choices, value=ALERTS_ONLY, label="Colour by", on_change=self._on_mode
            ).classes("w-64").props("data-testid=scene-colour-by")
            self.legend = ui.row().classes("items-center gap-2").props("data-testid=scene-legend")
            with ui.row().classes("items-center gap-1"):
                ui.element("div").style(
                    f"width:14px;height:14px;background:{ALERT_COLOR};border-radius:3px"
                )
                ui.label("open alert").classes("text-caption")
            self.field_legend = ui.row().classes("items-center gap-2")
            ui.space()
            ui.label(f"{len(self.parts)} parts").classes("text-caption").props(
                "data-testid=scene-count"
            )
        self.changed = ui.row().classes("items-center gap-2 w-full")
        self.changed.props("data-testid=scene-changed").set_visibility(False)
        if problem:
            ui.label(problem).classes("text-warning")
        if left_out:
            ui.label(f"{left_out} more twins are not drawn (at most {MAX_PARTS}).").classes(
                "text-caption"
            )
        if not self.parts:
            ui.label("No twins to show yet.").props("data-testid=scene-empty")
        scene = (
            ui.scene(grid=False, background_color="#f4f6f8", on_click=self._on_click)
            .classes("w-full")
            .style("height: 68vh")
            .props("data-testid=scene")
        )
        with scene:
            for part in self.plan.parts:
                self.objects[part.twin_id] = self._draw(scene, part)
            if len(self.parts) <= MAX_LABELS:
                for part in self.plan.parts:
                    if part.kind is not PartKind.PIPE:
                        x, y, z = part.position
                        scene.text(part.twin_id, "font-size: 11px; color: #37474f").move(
                            x, y, z + part.top + 0.4
                        )
        self._aim(scene)
        self.alerts = set(self.book.by_twin(time.time())) & set(self.parts)
        for twin_id in self.fields:
            self._update_field(twin_id)
        self._recolor(self.parts)
        self._draw_legend()

    def _draw(self, scene: ui.scene, part: Part) -> Object3D:
        x, y, z = part.position
        heading = math.radians(part.heading)
        obj: Object3D
        if part.draw is Draw.MESH:
            obj = SceneMesh(list(part.positions), list(part.indices))
            return obj.with_name(part.twin_id)
        if part.draw is Draw.FIELD:
            field = self.fields[part.twin_id]
            obj = SceneMesh(
                [float(v) for v in field.points.ravel()],
                [int(i) for i in field.triangles.ravel()],
                [200] * (3 * len(field.points)),
            )
        elif part.draw is Draw.FILE and part.file_format == "stl":
            obj = scene.stl(part.url).scale(part.scale)
        elif part.draw is Draw.FILE:  # glTF is y-up: stand it up in the scene's z-up world
            obj = scene.gltf(part.url).scale(part.scale)
            obj.rotate(math.pi / 2, 0.0, heading)
        else:
            obj = scene.gltf(part.url)
        if part.draw is not Draw.FILE or part.file_format == "stl":
            obj.rotate(0.0, 0.0, heading)
        return obj.move(x, y, z).with_name(part.twin_id)

    def _aim(self, scene: ui.scene) -> None:
        centre, radius = self.plan.centre, self.plan.radius
        focus = self.parts.get(self.focus or "")
        if focus is not None and focus.draw is not Draw.MESH:
            centre, radius = focus.position, max(1.5, min(radius, 10.0))
        cx, cy, _ = centre
        scene.move_camera(
            x=cx - 0.25 * radius,
            y=cy - 1.1 * radius,
            z=0.8 * radius,
            look_at_x=cx,
            look_at_y=cy,
            look_at_z=0.0,
            duration=0.0,
        )

    # --- colours -------------------------------------------------------------------------

    def _color(self, part: Part) -> str | None:
        """The part's colour now; None: its vertex colours (a field)."""
        if part.twin_id in self.alerts:
            return ALERT_COLOR
        if part.draw is Draw.FIELD:
            return None
        if self.mode == ALERTS_ONLY or (part.draw is Draw.FILE and self.scale is None):
            return _KIND_COLORS[part.kind]
        if self.scale is None:
            return _KIND_COLORS[part.kind]
        return self.scale.color(self.values.get(part.twin_id))

    def _recolor(self, twin_ids: Any) -> None:
        for twin_id in twin_ids:
            part = self.parts.get(twin_id)
            if part is not None:
                self.objects[twin_id].material(self._color(part), side="both")

    def _read_values(self, twin_ids: Any) -> None:
        for twin_id in twin_ids:
            twin = self.runtime.find(twin_id)
            self.values[twin_id] = None if twin is None else twin_value(twin, self.mode)

    def _rescale(self) -> bool:
        """A new scale from the current values; True when it changed."""
        unit = self._unit()
        scale = scale_for(self.values.values(), unit=unit) if self.mode != ALERTS_ONLY else None
        changed = scale != self.scale
        self.scale = scale
        return changed

    def _unit(self) -> str:
        for part in self.plan.parts:
            models = self.runtime.models
            if part.model in models:
                content = models.contents(part.model).get(self.mode)
                unit = getattr(content, "unit", None)
                if unit:
                    return str(unit)
        return ""

    def _on_mode(self, event: events.ValueChangeEventArguments[Any]) -> None:
        self.mode = str(event.value or ALERTS_ONLY)
        self.values = {}
        if self.mode != ALERTS_ONLY:
            self._read_values(self.parts)
        self._rescale()
        self._recolor(self.parts)
        self._draw_legend()

    def _draw_legend(self) -> None:
        if self.legend is None:
            return
        self.legend.clear()
        scale = self.scale
        if scale is None:
            return
        with self.legend:
            stops = scale.legend(2)
            ui.label(stops[0].label).classes("text-caption")
            ui.element("div").style(
                f"width:160px;height:12px;border-radius:3px;background:{scale.gradient_css()}"
            )
            ui.label(stops[-1].label).classes("text-caption")

    # --- live ----------------------------------------------------------------------------

    def on_events(self, batch: list[Event]) -> None:
        """Recolour the parts whose twins changed since the last tick."""
        changed = {e.twin_id for e in batch if e.twin_id in self.parts}
        if not changed:
            return
        if any(e.type in _ALERT_EVENTS for e in batch):
            self.alerts = set(self.book.by_twin(time.time())) & set(self.parts)
        for twin_id in changed & set(self.fields):
            self._update_field(twin_id)
        if self.mode != ALERTS_ONLY:
            self._read_values(changed)
            if self._rescale():
                self._recolor(self.parts)
                self._draw_legend()
                return
        self._recolor(changed)

    def on_structure(self, batch: list[Event]) -> None:
        """Twins added or deleted, or relationships changed, since the scene was planned: the
        layout would differ, so say what changed and offer to draw the scene again."""
        for event in batch:
            twin_id = event.twin_id
            target = str(event.data.get("target", ""))
            if event.type is EventType.TWIN_CREATED and self.focus is None:
                self.changes["added"].add(twin_id)
            elif event.type is EventType.TWIN_DELETED and twin_id in self.parts:
                self.changes["deleted"].add(twin_id)
            elif event.type in _LINKS and (twin_id in self.parts or target in self.parts):
                self.changes["linked"].add(twin_id)
        self._show_changes()

    def _show_changes(self) -> None:
        said = [
            f"{len(ids)} twin{'s' if len(ids) != 1 else ''} {what}"
            for what, ids in (
                ("added", self.changes["added"]),
                ("deleted", self.changes["deleted"]),
                ("with changed relationships", self.changes["linked"]),
            )
            if ids
        ]
        if not said or self.changed is None:
            return
        self.changed.clear()
        with self.changed:
            ui.icon("info", color="primary")
            ui.label("The plant changed since this scene was drawn: " + ", ".join(said) + ".")
            ui.button("Redraw", icon="refresh", on_click=ui.navigate.reload).props(
                "dense flat no-caps data-testid=scene-redraw"
            )
        self.changed.set_visibility(True)

    def refresh_alerts(self) -> None:
        """Check the open alerts again (a safety net beside the live alert events)."""
        alerts = set(self.book.by_twin(time.time())) & set(self.parts)
        if alerts != self.alerts:
            flipped = alerts ^ self.alerts
            self.alerts = alerts
            self._recolor(flipped)

    def _update_field(self, twin_id: str) -> None:
        twin = self.runtime.find(twin_id)
        obj = self.objects.get(twin_id)
        if twin is None or not isinstance(obj, SceneMesh):
            return
        field = field_for(twin, self.runtime.models, services().bindings)
        if field is None or len(field.points) * 3 != len(obj.args[0]):
            return
        stress = field.values / 1e6
        peak = max(self.field_peak.get(twin_id, 0.0), float(stress.max(initial=0.0)), 1e-6)
        self.field_peak[twin_id] = peak
        scale = ColorScale(0.0, peak, "stress", "MPa")
        obj.set_colors(vertex_colors(scale, stress))
        if self.field_legend is None:
            return
        self.field_legend.clear()
        with self.field_legend:
            ui.label(f"{twin_id} von Mises 0").classes("text-caption")
            ui.element("div").style(
                f"width:120px;height:12px;border-radius:3px;background:{scale.gradient_css()}"
            )
            ui.label(f"{peak:.3g} MPa").classes("text-caption").props("data-testid=field-peak")

    def _on_click(self, event: events.SceneClickEventArguments) -> None:
        for hit in event.hits:
            if hit.object_name in self.parts:
                ui.navigate.to(twin_url(hit.object_name))
                return
