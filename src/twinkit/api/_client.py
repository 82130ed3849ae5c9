"""The Python client of a running twinkit server: ``twinkit.Client(url, token)``.

Synchronous, for scripts and notebooks (the CLI uses it too). Two levels: ``get``/``post``/
``put``/``request`` send JSON and return the decoded answer; ``query``, ``twins``,
``series``, ``frame``, ``as_of``, ``diff`` and ``history`` follow every page and return
pandas objects (``query_rows`` and ``twin`` return the JSON). What-if scenarios:
``run_scenario`` (and ``wait_scenario``), ``scenarios``, ``scenario_series``,
``compare_scenario`` and ``plot_scenario`` (a plot of a scenario against reality in one call). Times are taken as seconds since
the epoch, datetimes (naive is UTC) or ISO 8601 strings. Every failure is a
:class:`ClientError`: the server's ``{"error", "detail", "where"}``, or why it could not be
reached. The HTTP transport is replaceable (``transport=``), as in httpx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, overload
from urllib.parse import quote, urlsplit

import httpx
import pandas as pd

from twinkit.api._app import API_PREFIX
from twinkit.api._client_frames import (
    TimeLike,
    alerts_frame,
    buckets_series,
    changes_frame,
    history_frame,
    points_series,
    query_frame,
    scenarios_frame,
    seconds,
    table_frame,
    twins_frame,
    width_seconds,
)
from twinkit.errors import TwinkitError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Client", "ClientError"]

DEFAULT_MAX_ROWS: Final = 1_000_000
"""How many rows (or points) one call gathers before it stops with a ClientError."""

_FINAL: Final = ("done", "failed", "cancelled")
_HINTS: Final = {
    401: "check the token (--token / TWINKIT_TOKEN): it is missing, unknown or revoked",
    403: "the token's role does not allow this; ask an admin for an operator or admin token",
}


class ClientError(TwinkitError):
    """A request to the server failed.

    ``status`` is the HTTP status, or None when no answer came (``kind`` "unreachable",
    "timeout") or the client stopped by itself ("bad_url", "too_many_rows"). ``kind``,
    ``detail`` and ``where`` are the server's ``error``, ``detail`` and ``where``; ``body`` the
    whole error answer (``issues`` of a DTDL or request error are there).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        kind: str,
        where: str | None = None,
        detail: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, where=where)
        self.status = status
        self.kind = kind
        self.detail = message if detail is None else detail
        self.body = body or {}


def _path(*segments: str) -> str:
    """A path of URL-quoted segments (twin ids and names may hold any character)."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _too_many(what: str, limit: int, hint: str) -> ClientError:
    return ClientError(
        f"{what} has more than max_rows={limit} rows; {hint}, or raise max_rows",
        status=None,
        kind="too_many_rows",
        where=what,
    )


class Client:
    """``Client(url, token)``: a twinkit server's REST API; use it as a context manager."""

    __slots__ = ("_http", "timeout", "url")

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(
                f"bad server URL {url!r}: expected http(s)://host[:port], "
                "e.g. http://127.0.0.1:8000",
                status=None,
                kind="bad_url",
                where=url,
            )
        self.url = url.rstrip("/")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- JSON ------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer (None for 204); ClientError for an error answer."""
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as err:
            raise self._unreachable(method, path, err) from err
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success or response.status_code == 207:
            return body
        raise self._error(method, path, response, body)

    def _unreachable(self, method: str, path: str, err: httpx.TransportError) -> ClientError:
        """No answer: a connection refused (or never made) reads unlike a server gone quiet."""
        if isinstance(err, httpx.TimeoutException) and not isinstance(err, httpx.ConnectTimeout):
            return ClientError(
                f"twinkit at {self.url} did not answer {method} {path} within "
                f"{self.timeout:g} s ({type(err).__name__}); the server is busy or stuck, "
                "or pass a longer timeout=",
                status=None,
                kind="timeout",
                where=self.url,
            )
        return ClientError(
            f"cannot reach twinkit at {self.url} ({type(err).__name__}: {err}); "
            "is `twinkit serve` running there?",
            status=None,
            kind="unreachable",
            where=self.url,
        )

    def _error(self, method: str, path: str, response: httpx.Response, body: Any) -> ClientError:
        status = response.status_code
        if not (isinstance(body, dict) and "error" in body):
            return ClientError(
                f"{status} from {method} {self.url}{API_PREFIX}{path} (not a twinkit error "
                f"answer; is this a twinkit server?): {response.text[:200]}",
                status=status,
                kind="http",
                where=f"{method} {path}",
            )
        detail = str(body.get("detail"))
        where = body.get("where")
        message = f"{status} {body['error']}: {detail}"
        if where and str(where) not in detail:
            message += f" (where: {where})"
        if status in _HINTS:
            message += f"; {_HINTS[status]}"
        return ClientError(
            message,
            status=status,
            kind=str(body["error"]),
            where=None if where is None else str(where),
            detail=detail,
            body=body,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)

    # -- twins and queries -----------------------------------------------------------------

    def query_rows(
        self, text: str, *, page_size: int = 1000, max_rows: int = DEFAULT_MAX_ROWS
    ) -> list[dict[str, Any]]:
        """Every row of a twin query (docs/query-language.md), following continuation tokens.

        More than ``max_rows`` rows is a ClientError (use ``TOP(n)`` for the first n).
        """
        body: dict[str, Any] = {"query": text, "pageSize": page_size}
        rows: list[dict[str, Any]] = []
        while True:
            page = self.post("/query", body)
            rows.extend(page["value"])
            if len(rows) > max_rows:
                raise _too_many("the query", max_rows, "narrow it or use SELECT TOP(n)")
            token = page.get("continuationToken")
            if not token:
                return rows
            body["continuationToken"] = token

    def query(
        self, text: str, *, page_size: int = 1000, max_rows: int = DEFAULT_MAX_ROWS
    ) -> pd.DataFrame:
        """Every row of a twin query as a frame.

        ``SELECT T``: one row per twin, ``$dtId``, ``model`` and the reported property values
        as columns; projections: their columns; ``COUNT()``: one row, column ``COUNT``;
        documents under an alias (JOINs) have it as prefix (``T.$dtId``, ``R.$targetId``).
        """
        return query_frame(self.query_rows(text, page_size=page_size, max_rows=max_rows))

    def twin(self, twin_id: str) -> dict[str, Any]:
        """One twin's JSON: ``id``, ``model``, ``version``, ``properties`` (reported, desired,
        ``inSync``...), ``relationships``, ``telemetry``."""
        found: dict[str, Any] = self.get(_path("twins", twin_id))
        return found

    def twins(self, model: str | None = None, *, page_size: int = 1000) -> pd.DataFrame:
        """Every twin (of ``model`` or a model extending it): ``id``, ``model``, ``version``
        and one column per reported property."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get("/twins", model=model, limit=page_size, offset=len(items))
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return twins_frame(items)

    # -- alerts ----------------------------------------------------------------------------

    def alerts(
        self,
        twin_id: str | None = None,
        *,
        model: str | None = None,
        severity: str | None = None,
    ) -> pd.DataFrame:
        """Open alerts, newest raised first (of one twin, of twins of ``model`` or a model
        extending it, at least as severe as ``severity``): ``twinId``, ``model``, ``name``,
        ``severity``, ``message``, ``raised``, ``raisedBy``, ``updated``, ``acknowledged``,
        ``acknowledgedBy``, ``note``."""
        found = self.get("/alerts", twin=twin_id, model=model, severity=severity)
        return alerts_frame(found["items"])

    def acknowledge_alert(self, twin_id: str, name: str, note: str = "") -> dict[str, Any]:
        """Acknowledge an open alert (it stays open); answers the alert as it is now."""
        found: dict[str, Any] = self.post(
            _path("twins", twin_id, "alerts", name, "acknowledge"), {"note": note}
        )
        return found

    def clear_alert(self, twin_id: str, name: str, message: str = "") -> dict[str, Any]:
        """Clear (close) an open alert, saying why; answers the ``AlertCleared`` event."""
        found: dict[str, Any] = self.post(
            _path("twins", twin_id, "alerts", name, "clear"), {"message": message}
        )
        return found

    # -- series ----------------------------------------------------------------------------

    def series(
        self,
        twin_id: str,
        name: str,
        start: TimeLike,
        end: TimeLike,
        *,
        width: float | timedelta | None = None,
        agg: str = "avg",
        fill: str = "none",
        page_size: int = 10_000,
        max_points: int = 10 * DEFAULT_MAX_ROWS,
    ) -> pd.Series:
        """One series from ``start`` (inclusive) to ``end`` (exclusive) on a UTC time index.

        Without ``width``: the raw points, every page. With ``width`` (seconds or a
        timedelta): one value per bucket, aggregated by ``agg`` (avg, min, max, count, first,
        last, sum), empty buckets filled by ``fill`` (none, previous, linear) or NaN.
        """
        window = {"start": seconds(start, "start"), "end": seconds(end, "end")}
        if width is not None:
            answer = self.get(
                _path("twins", twin_id, "series", name, "buckets"),
                **window,
                width=width_seconds(width),
                agg=agg,
                fill=fill,
            )
            return buckets_series(answer["buckets"], name)
        times: list[float] = []
        values: list[Any] = []
        after: float | None = None
        while True:
            page = self.get(
                _path("twins", twin_id, "series", name), **window, after=after, limit=page_size
            )
            times.extend(point["time"] for point in page["points"])
            values.extend(point["value"] for point in page["points"])
            if len(times) > max_points:
                raise _too_many(f"series {twin_id}/{name}", max_points, "read a shorter range")
            after = page.get("nextAfter")
            if after is None:
                return points_series(times, values, name)

    def frame(
        self,
        series: Sequence[tuple[str, str]],
        start: TimeLike,
        end: TimeLike,
        *,
        width: float | timedelta,
        agg: str = "avg",
        fill: str = "none",
    ) -> pd.DataFrame:
        """Several series on the same buckets: one column ``"<twin id>/<name>"`` per
        ``(twin id, name)``, on a UTC time index."""
        body = {
            "series": [f"{twin_id}/{name}" for twin_id, name in series],
            "start": seconds(start, "start"),
            "end": seconds(end, "end"),
            "width": width_seconds(width),
            "agg": agg,
            "fill": fill,
        }
        return table_frame(self.post("/series/frame", body))

    # -- time travel -----------------------------------------------------------------------

    @overload
    def as_of(self, time: TimeLike, twin_id: str) -> dict[str, Any]: ...

    @overload
    def as_of(
        self, time: TimeLike, twin_id: None = None, *, telemetry: bool = False
    ) -> pd.DataFrame: ...

    def as_of(
        self, time: TimeLike, twin_id: str | None = None, *, telemetry: bool = False
    ) -> dict[str, Any] | pd.DataFrame:
        """A twin as it was at ``time`` (its JSON, as :meth:`twin` gives; 404 ClientError if
        it did not exist then), or without ``twin_id`` the whole graph: one row per twin,
        ``id``, ``model``, ``version``, the reported values (and the latest telemetry values
        then, with ``telemetry=True``)."""
        when = seconds(time, "time")
        if twin_id is not None:
            found: dict[str, Any] = self.get(_path("twins", twin_id, "as-of"), time=when)
            return found
        graph = self.get("/graph/as-of", time=when, telemetry=telemetry)
        return twins_frame(graph["twins"], telemetry=telemetry)

    def diff(self, start: TimeLike, end: TimeLike, twin_id: str | None = None) -> pd.DataFrame:
        """What changed from ``start`` to ``end``: one row per change, ``kind``
        (twin_created, reported, desired, relationship_added...), ``twin_id``, ``name``
        (property or relationship id), ``before``, ``after``."""
        answer = self.get(
            "/diff", start=seconds(start, "start"), end=seconds(end, "end"), twin=twin_id
        )
        return changes_frame(answer["changes"])

    def history(
        self,
        twin_id: str,
        name: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        newest_first: bool = False,
        page_size: int = 1000,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> pd.DataFrame:
        """Every change of one property (reported, removed, desired, acknowledged) with when
        (``time``, ``recorded``) and who (``cause``: ``token:<id>``, ``connector:<name>``),
        oldest first unless ``newest_first``."""
        window = {
            "start": None if start is None else seconds(start, "start"),
            "end": None if end is None else seconds(end, "end"),
        }
        changes: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = self.get(
                _path("twins", twin_id, "properties", name, "history"),
                **window,
                limit=page_size,
                newestFirst=newest_first,
                after=after,
            )
            changes.extend(page["changes"])
            if len(changes) > max_rows:
                raise _too_many(f"history of {twin_id}/{name}", max_rows, "narrow start/end")
            after = page.get("next")
            if not after:
                return history_frame(changes)

    # -- what-if scenarios -----------------------------------------------------------------

    def run_scenario(
        self,
        spec: Mapping[str, Any] | Any,
        *,
        wait: bool = False,
        progress: Callable[[float], None] | None = None,
        poll: float = 0.5,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Start a what-if scenario (its JSON form, or a ``ScenarioSpec``; docs/scenarios.md)
        and return it as the server answers (``queued``); with ``wait``, the final state
        (:meth:`wait_scenario`). A bad spec is a ClientError naming the field (``where``)."""
        body = spec.to_json() if hasattr(spec, "to_json") else dict(spec)
        started: dict[str, Any] = self.post("/scenarios", body)
        if not wait:
            return started
        return self.wait_scenario(started["name"], progress=progress, poll=poll, timeout=timeout)

    def wait_scenario(
        self,
        name: str,
        *,
        progress: Callable[[float], None] | None = None,
        poll: float = 0.5,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll a scenario until it is done, failed or cancelled; returns it then (``error``
        says why a failed one failed). ``progress`` gets the fraction at every poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = self.scenario(name)
            if progress is not None:
                progress(float(found["progress"]))
            if found["status"] in _FINAL:
                return found
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(
                    f"scenario {name!r} is still {found['status']} after {timeout:g} s "
                    f"({found['progress']:.0%} done); wait longer or cancel it",
                    status=None,
                    kind="timeout",
                    where=f"scenario {name}",
                )
            time.sleep(poll)

    def scenario(self, name: str) -> dict[str, Any]:
        """One scenario's JSON: ``status``, ``progress``, ``error``, ``spec`` (as run) and
        ``series`` (``[{"twinId", "name"}]``)."""
        found: dict[str, Any] = self.get(_path("scenarios", name))
        return found

    def scenarios(self) -> pd.DataFrame:
        """Every scenario, oldest first: ``name``, ``status``, ``progress``, ``created``,
        ``started``, ``finished``, ``error``, ``cause``."""
        return scenarios_frame(self.get("/scenarios")["items"])

    def scenario_series(
        self, name: str, twin_id: str, series: str, *, buckets: int | None = None
    ) -> pd.Series:
        """One simulated series of a scenario on a UTC time index: every point, or the mean
        of each of ``buckets`` equal buckets over its horizon."""
        answer = self.get(
            _path("scenarios", name, "series"), twin=twin_id, name=series, buckets=buckets
        )
        points = answer["points"]
        return points_series([p["time"] for p in points], [p["value"] for p in points], series)

    def compare_scenario(
        self,
        name: str,
        twin_id: str,
        series: str,
        *,
        buckets: int | None = None,
        reality: str | None = None,
    ) -> pd.DataFrame:
        """The scenario's series against the twin's real one (``reality``, the same name by
        default) on one UTC time grid: columns ``scenario``, ``reality``, ``difference``."""
        answer = self.get(
            _path("scenarios", name, "compare"),
            twin=twin_id,
            name=series,
            buckets=buckets,
            reality=reality,
        )
        frame = table_frame(answer)
        frame.attrs.update(scenario=name, twin=twin_id, series=series, at=answer.get("at"))
        return frame

    def plot_scenario(
        self,
        name: str,
        twin_id: str,
        series: str,
        *,
        buckets: int | None = None,
        reality: str | None = None,
        ax: Axes | None = None,
        path: str | Path | None = None,
        title: str | None = None,
    ) -> Axes:
        """Plot the scenario against reality (:meth:`compare_scenario`); on ``ax``, or saved
        to ``path`` (PNG, SVG, PDF by its suffix), or in a new pyplot figure. Needs
        matplotlib."""
        from twinkit.sim._scenario_results import plot_scenario

        frame = self.compare_scenario(name, twin_id, series, buckets=buckets, reality=reality)
        return plot_scenario(frame, title=title, ax=ax, path=path)

    def cancel_scenario(self, name: str) -> dict[str, Any]:
        """Stop a queued or running scenario (409 ClientError when it has ended)."""
        found: dict[str, Any] = self.post(_path("scenarios", name, "cancel"))
        return found

    def delete_scenario(self, name: str) -> None:
        """Forget a scenario and its series (cancelled first if it runs)."""
        self.request("DELETE", _path("scenarios", name))
