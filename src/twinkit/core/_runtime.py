"""The runtime: requests in, past-tense events out, the twin graph kept in step.

Every write follows one path (DESIGN.md, "How data flows"): check the request against the twin's
model and current state, stage the events in a :class:`~twinkit.core._batch.Batch`, append the
batch to the store in one transaction, then install the new twin states and publish the events
to subscribers. Writes are serialised by one lock, so sequence numbers are gap-free and the
graph never shows a change the store has not committed.

Optimistic concurrency: a write may carry ``expected_version`` (the twin's version, which is its
last event's sequence number) and fails with a ConflictError when the twin has moved on.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from twinkit.core._alerts import (
    OpenAlert,
    select_alerts,
    stage_acknowledge,
    stage_clear,
    stage_raise,
)
from twinkit.core._batch import Batch
from twinkit.core._commands import PendingCommands, deliver
from twinkit.core._derived import Derived, stage_derived
from twinkit.core._events import Event, EventType
from twinkit.core._graph import TwinGraph
from twinkit.core._ingest import check_message, stage_message
from twinkit.core._load import load_graph
from twinkit.core._log import EventLog
from twinkit.core._models import ModelRegistry
from twinkit.core._requests import CommandResult, CommandTransport, Reading, RelationshipSpec
from twinkit.core._subscribers import Listener, Subscribers
from twinkit.core._twin import RelationshipEdge, Twin, detached
from twinkit.core._writes import (
    check_behaviour_event,
    check_expected,
    check_twin_id,
    plan_relationship,
    require_live,
)
from twinkit.errors import ConflictError, NotFoundError, TwinkitError
from twinkit.model import ModelSet

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class Runtime:
    """The live twins of one store. Open with ``await Runtime.open(store)``."""

    def __init__(
        self,
        log: EventLog,
        registry: ModelRegistry,
        graph: TwinGraph,
        *,
        clock: Callable[[], float],
        snapshot_every: int,
    ) -> None:
        """Use :meth:`open`, which loads the models and twins from ``log``."""
        self._log = log
        self._registry = registry
        self._graph = graph
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._since_snapshot: dict[str, int] = {}
        self._lock = asyncio.Lock()
        # A lambda, not the bound method: the registry's ModelSet is replaced when models change.
        self._subscribers = Subscribers(lambda model, base: registry.models.is_a(model, base))  # noqa: PLW0108
        self._commands = PendingCommands()
        self._transport: CommandTransport | None = None
        self._completion_cause: dict[str, str] = {}  # correlation id -> who answered
        self._points_written = 0

    @classmethod
    async def open(
        cls,
        log: EventLog,
        *,
        clock: Callable[[], float] = _time.time,
        snapshot_every: int = 100,
    ) -> Runtime:
        """Load the models and every twin (snapshot, later events, latest values) from ``log``."""
        registry = await ModelRegistry.load(log)
        graph = await load_graph(log, registry)
        logger.info("runtime loaded %d twins and %d models", len(graph), len(registry.models))
        return cls(log, registry, graph, clock=clock, snapshot_every=snapshot_every)

    async def close(self) -> None:
        """Snapshot the twins that changed since their last snapshot (restarts go faster)."""
        async with self._lock:
            for twin_id in [t for t, n in self._since_snapshot.items() if n]:
                twin = self._graph.get(twin_id)
                if twin is not None:
                    await self._log.save_snapshot(twin)
            self._since_snapshot.clear()

    # --- models --------------------------------------------------------------------------

    @property
    def points_written(self) -> int:
        """Points (telemetry, reported and derived values) committed to history since this
        runtime opened: sample it to show an ingest rate without listening to every event."""
        return self._points_written

    @property
    def models(self) -> ModelSet:
        return self._registry.models

    async def add_models(self, documents: Sequence[Mapping[str, Any]]) -> list[str]:
        """Parse DTDL interface documents together with the known ones and keep them."""
        async with self._lock:
            return await self._registry.add(self._log, documents, self._clock())

    async def delete_model(self, model_id: str) -> None:
        """Forget a model; ConflictError while twins or other models use it."""
        async with self._lock:
            in_use = [t for t in self._graph.ids_of_model(model_id)]
            if in_use:
                raise ConflictError(
                    f"model {model_id} is used by {len(in_use)} twin(s), e.g. "
                    f"{', '.join(sorted(in_use)[:5])}: delete them first",
                    where=model_id,
                )
            await self._registry.delete(self._log, model_id)

    def model_document(self, model_id: str) -> dict[str, Any]:
        """The DTDL document a model was uploaded as (NotFoundError when unknown)."""
        return self._registry.document(model_id)

    def model_documents(self) -> list[dict[str, Any]]:
        return self._registry.documents()

    # --- reading -------------------------------------------------------------------------

    def get(self, twin_id: str) -> Twin:
        """The twin, or NotFoundError."""
        return require_live(self._graph.get(twin_id), twin_id)

    def find(self, twin_id: str) -> Twin | None:
        return self._graph.get(twin_id)

    def twins(self, *, model: str | None = None) -> list[Twin]:
        """Every live twin, or those of ``model`` and of the models that extend it."""
        if model is None:
            return list(self._graph)
        models = self._registry.models
        ids: set[str] = set()
        for candidate in self._graph.models():
            if candidate == model or models.is_a(candidate, model):
                ids |= self._graph.ids_of_model(candidate)
        return [twin for twin_id in sorted(ids) if (twin := self._graph.get(twin_id))]

    def outgoing(self, twin_id: str) -> list[RelationshipEdge]:
        return list(self.get(twin_id).relationships.values())

    def incoming(self, twin_id: str) -> list[RelationshipEdge]:
        self.get(twin_id)
        return self._graph.incoming(twin_id)

    async def events(self, twin_id: str, since_seq: int = 0) -> list[Event]:
        """The twin's logged events after ``since_seq`` (deleted twins' logs included)."""
        if self._graph.last_seq(twin_id) == 0:
            raise NotFoundError(f"twin {twin_id!r} not found", where=twin_id)
        return await self._log.events(twin_id, since_seq)

    def command_result(self, correlation_id: str) -> CommandResult | None:
        return self._commands.result(correlation_id)

    # --- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        callback: Listener,
        *,
        twins: Collection[str] | None = None,
        models: Collection[str] | None = None,
        types: Collection[EventType | str] | None = None,
    ) -> Callable[[], None]:
        """Call ``callback`` with each committed event that passes the filters (``models``
        includes models that extend them); returns the function that unsubscribes."""
        return self._subscribers.add(callback, twins=twins, models=models, types=types)

    # --- writes --------------------------------------------------------------------------

    async def _write(self, cause: str, build: Callable[[Batch], _T]) -> _T:
        async with self._lock:
            audience = self._subscribers.audience(EventType.TELEMETRY_RECEIVED)
            batch = Batch(self._graph, cause, self._clock(), audience)
            result = build(batch)
            await self._commit(batch)
            return result

    async def _commit(self, batch: Batch) -> None:
        batch.finish()
        if batch.events or batch.points or batch.touches:
            changed = {event.twin_id for event in batch.events}
            states = {twin_id: batch.twins[twin_id] for twin_id in changed}
            await self._log.append(batch.events, batch.points, batch.touches, states)
            self._points_written += len(batch.points)
        graph = self._graph
        for twin in batch.twins.values():
            graph.put(twin)
        for twin_id, latest in batch.latest.items():
            graph.update_latest(twin_id, latest)
        self._subscribers.publish(
            (event, batch.model_of(event.twin_id)) for event in batch.published
        )
        await self._snapshot(batch.events)

    async def _snapshot(self, events: Sequence[Event]) -> None:
        due = []
        for event in events:
            count = self._since_snapshot.get(event.twin_id, 0) + 1
            self._since_snapshot[event.twin_id] = count
            if count == self._snapshot_every:
                due.append(event.twin_id)
        for twin_id in due:
            self._since_snapshot[twin_id] = 0
            twin = self._graph.get(twin_id)
            if twin is not None:  # its telemetry would move while the store's thread reads it
                await self._log.save_snapshot(detached(twin))

    async def create_twin(
        self,
        twin_id: str,
        model: str,
        properties: Mapping[str, Any] | None = None,
        *,
        cause: str,
    ) -> Twin:
        """A new twin of ``model`` with initial reported property values."""
        (twin,) = await self.create_twins([(twin_id, model, properties)], cause=cause)
        return twin

    async def create_twins(
        self,
        specs: Sequence[tuple[str, str, Mapping[str, Any] | None]],
        *,
        cause: str,
    ) -> list[Twin]:
        """Create many twins ``(id, model, properties)`` in one transaction: all or none."""

        def build(batch: Batch) -> list[Twin]:
            for twin_id, model, properties in specs:
                check_twin_id(twin_id)
                if batch.twin(twin_id) is not None:
                    raise ConflictError(f"twin {twin_id!r} already exists", where=twin_id)
                validator = self._registry.validator(model)
                values = validator.property_batch(properties or {})
                data = {"model": validator.model_id, "properties": values}
                batch.record(twin_id, EventType.TWIN_CREATED, data, batch.recorded)
            return [require_live(batch.twin(twin_id), twin_id) for twin_id, _, _ in specs]

        return await self._write(cause, build)

    async def delete_twin(
        self, twin_id: str, *, cause: str, expected_version: int | None = None
    ) -> None:
        """Delete a twin; ConflictError while relationships of other twins point at it."""

        def build(batch: Batch) -> None:
            twin = require_live(batch.twin(twin_id), twin_id)
            check_expected(twin, expected_version)
            incoming = self._graph.incoming(twin_id)
            if incoming:
                sources = ", ".join(sorted(f"{e.source} ({e.name})" for e in incoming)[:5])
                raise ConflictError(
                    f"twin {twin_id!r} is the target of {len(incoming)} relationship(s), from "
                    f"{sources}: remove them first",
                    where=twin_id,
                )
            batch.record(twin_id, EventType.TWIN_DELETED, {}, batch.recorded)

        await self._write(cause, build)

    async def report(
        self,
        twin_id: str,
        values: Mapping[str, Any],
        *,
        cause: str,
        removed: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> Twin:
        """Write reported property values (and remove reported ones) as a caller, not a device."""

        def build(batch: Batch) -> Twin:
            twin = require_live(batch.twin(twin_id), twin_id)
            check_expected(twin, expected_version)
            validator = self._registry.validator(twin.model)
            typed = validator.property_batch(values)
            for name in removed:
                state = twin.properties.get(name)
                if state is None or not state.has_reported:
                    raise NotFoundError(
                        f"property {name!r} of twin {twin_id!r} has no reported value to remove",
                        where=f"{twin_id}/{name}",
                    )
            now = batch.recorded
            for name, value in typed.items():
                twin = batch.report(twin, name, value, now)
            for name in removed:
                data = {"name": name, "value": None, "removed": True}
                batch.record(twin_id, EventType.PROPERTY_REPORTED, data, now)
            return require_live(batch.twin(twin_id), twin_id)

        return await self._write(cause, build)

    async def set_desired(
        self,
        twin_id: str,
        name: str,
        value: Any,
        *,
        cause: str,
        expected_version: int | None = None,
    ) -> Twin:
        """Record a desired value (next desired version); connectors send it to the device."""

        def build(batch: Batch) -> Twin:
            twin = require_live(batch.twin(twin_id), twin_id)
            check_expected(twin, expected_version)
            validator = self._registry.validator(twin.model)
            typed = validator.property(name, value, desired=True)
            state = twin.properties.get(name)
            version = (state.desired_version if state is not None else 0) + 1
            data = {"name": name, "value": typed, "version": version}
            batch.record(twin_id, EventType.DESIRED_PROPERTY_SET, data, batch.recorded)
            return require_live(batch.twin(twin_id), twin_id)

        return await self._write(cause, build)

    async def add_relationship(
        self,
        twin_id: str,
        name: str,
        target: str,
        *,
        cause: str,
        relationship_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> RelationshipEdge:
        """Link ``twin_id --name--> target``, checked against the model (target model,
        multiplicity, edge properties)."""
        spec = RelationshipSpec(twin_id, name, target, relationship_id, properties)
        (edge,) = await self.add_relationships(
            [spec], cause=cause, expected_version=expected_version
        )
        return edge

    async def add_relationships(
        self,
        specs: Sequence[RelationshipSpec],
        *,
        cause: str,
        expected_version: int | None = None,
    ) -> list[RelationshipEdge]:
        """Add many relationships in one transaction: all or none (each checked as by
        :meth:`add_relationship`; later ones see earlier ones, for multiplicity).
        ``expected_version`` applies to a single source twin only."""

        def build(batch: Batch) -> list[RelationshipEdge]:
            edges = []
            for spec in specs:
                twin = require_live(batch.twin(spec.source), spec.source)
                check_expected(twin, expected_version)
                data = plan_relationship(
                    self._registry,
                    twin,
                    name=spec.name,
                    target=batch.twin(spec.target),
                    target_id=spec.target,
                    relationship_id=spec.id,
                    properties=spec.properties,
                )
                batch.record(spec.source, EventType.RELATIONSHIP_ADDED, data, batch.recorded)
                edges.append((spec.source, data["id"]))
            return [
                require_live(batch.twin(source), source).relationships[edge_id]
                for source, edge_id in edges
            ]

        return await self._write(cause, build)

    async def remove_relationship(
        self,
        twin_id: str,
        relationship_id: str,
        *,
        cause: str,
        expected_version: int | None = None,
    ) -> None:
        def build(batch: Batch) -> None:
            twin = require_live(batch.twin(twin_id), twin_id)
            check_expected(twin, expected_version)
            if relationship_id not in twin.relationships:
                raise NotFoundError(
                    f"twin {twin_id!r} has no relationship {relationship_id!r}",
                    where=f"{twin_id}/relationships/{relationship_id}",
                )
            data = {"id": relationship_id}
            batch.record(twin_id, EventType.RELATIONSHIP_REMOVED, data, batch.recorded)

        await self._write(cause, build)

    # --- ingest --------------------------------------------------------------------------

    async def ingest(
        self, messages: Sequence[Sequence[Reading]], *, cause: str
    ) -> list[TwinkitError | None]:
        """Validate and commit a batch of device messages in one transaction.

        Returns one entry per message: None when it was accepted, else why not (the message
        is then not applied at all). Accepted messages are durable when this returns.
        """

        def build(batch: Batch) -> list[TwinkitError | None]:
            results: list[TwinkitError | None] = []
            for readings in messages:
                try:
                    checked = check_message(
                        batch, readings, self._registry.validator, batch.recorded
                    )
                except TwinkitError as err:
                    results.append(err)
                    continue
                stage_message(batch, checked)
                results.append(None)
            return results

        return await self._write(cause, build)

    async def record_derived(self, items: Sequence[Derived], *, cause: str) -> None:
        """Keep values computed about twins (simulated, residuals, predictions) in one
        transaction: points of ``"<kind>:<name>"`` series, the twins' latest derived values and
        transient ``ValuesDerived`` events. All or nothing: a missing twin is a NotFoundError,
        a bad kind, name or value (NaN) a ValidationError naming it."""
        if items:
            await self._write(cause, lambda batch: stage_derived(batch, items))

    async def raise_alert(
        self, twin_id: str, name: str, message: str, *, cause: str, severity: str = "warning"
    ) -> Event:
        """Open alert ``name`` (what) on the twin with ``message`` (why), or update it while it
        is open; ``AlertRaised``. ``severity``: info, warning, error or critical."""
        return await self._write(
            cause, lambda batch: stage_raise(batch, twin_id, name, message, severity)
        )

    async def acknowledge_alert(
        self, twin_id: str, name: str, *, cause: str, note: str = ""
    ) -> Event:
        """Record that ``cause`` has seen open alert ``name`` (it stays open);
        ``AlertAcknowledged``. An alert that is not open is a ValidationError."""
        return await self._write(cause, lambda batch: stage_acknowledge(batch, twin_id, name, note))

    async def clear_alert(self, twin_id: str, name: str, *, cause: str, message: str = "") -> Event:
        """Close open alert ``name`` (``message``: why); ``AlertCleared``. An alert that is not
        open is a ValidationError naming the twin and the alert."""
        return await self._write(cause, lambda batch: stage_clear(batch, twin_id, name, message))

    def alerts(
        self, *, twin_id: str | None = None, model: str | None = None, severity: str | None = None
    ) -> list[OpenAlert]:
        """Open alerts, newest raised first: of one twin, of twins of ``model`` (or extending
        it), at least as severe as ``severity``; no scan of twins without alerts."""
        twins = [self.get(twin_id)] if twin_id is not None else self._graph.alerting()
        return select_alerts(twins, model=model, severity=severity, is_a=self.models.is_a)

    async def record_event(
        self,
        twin_id: str,
        type: EventType,
        data: Mapping[str, Any],
        *,
        cause: str,
        time: float | None = None,
    ) -> Event:
        """Log an event a behaviour raises (``PredictionMade``, ``ModelCalibrated``) on the twin.

        Other types change twin state and have their own methods; asking for one here is a
        ValidationError. ``time`` is when it happened (default: now).
        """
        check_behaviour_event(type, twin_id)

        def build(batch: Batch) -> Event:
            require_live(batch.twin(twin_id), twin_id)
            at = batch.recorded if time is None else float(time)
            return batch.record(twin_id, type, dict(data), at)

        return await self._write(cause, build)

    async def dead_letter(self, source: str, payload: bytes, reason: str) -> int:
        """Keep a message that could not be accepted, with why; durable when this returns."""
        return await self._log.add_dead_letter(source, payload, reason, self._clock())

    # --- commands ------------------------------------------------------------------------

    def set_command_transport(self, transport: CommandTransport | None) -> None:
        """The connector that delivers commands to devices (None: commands fail with 503)."""
        self._transport = transport

    async def invoke(
        self,
        twin_id: str,
        name: str,
        request: Any = None,
        *,
        cause: str,
        timeout: float = 10.0,
    ) -> CommandResult:
        """Send a command to the twin's device and wait for its answer, at most ``timeout`` s.

        Records ``CommandInvoked`` and ``CommandCompleted``. An offline device gives status 503
        at once, no answer in time 504; neither raises, so the caller always gets a result.
        """
        correlation_id = uuid.uuid4().hex

        def invoked(batch: Batch) -> Any:
            twin = require_live(batch.twin(twin_id), twin_id)
            typed = self._registry.validator(twin.model).command_request(name, request)
            data = {"id": correlation_id, "name": name, "request": typed}
            batch.record(twin_id, EventType.COMMAND_INVOKED, data, batch.recorded)
            return typed

        typed = await self._write(cause, invoked)
        future = self._commands.expect(correlation_id, twin_id, name)
        result = await deliver(
            self._transport,
            twin_id=twin_id,
            name=name,
            correlation_id=correlation_id,
            request=typed,
            timeout=timeout,
            future=future,
        )
        self._commands.finish(result)

        def completed(batch: Batch) -> None:
            data = {
                "id": result.id,
                "name": name,
                "status": result.status,
                "response": result.response,
                "description": result.description,
            }
            batch.record(twin_id, EventType.COMMAND_COMPLETED, data, batch.recorded)

        await self._write(self._completion_cause.pop(correlation_id, cause), completed)
        return result

    async def complete_command(
        self, twin_id: str, correlation_id: str, status: int, response: Any, *, cause: str
    ) -> None:
        """A device's answer to a command; NotFoundError when no invocation waits for it."""
        waiting = self._commands.waiting(correlation_id)
        if waiting is None or waiting[0] != twin_id:
            raise NotFoundError(
                f"no command {correlation_id!r} of twin {twin_id!r} is waiting for an answer "
                "(unknown id, or it timed out)",
                where=twin_id,
            )
        name = waiting[1]
        description = None
        if 200 <= status < 300:
            twin = self.get(twin_id)
            try:
                response = self._registry.validator(twin.model).command_response(name, response)
            except TwinkitError as err:
                status, description, response = (
                    502,
                    f"invalid response from the device: {err}",
                    None,
                )
        elif isinstance(response, str):
            description = response
        self._completion_cause[correlation_id] = cause
        self._commands.resolve(
            CommandResult(correlation_id, twin_id, name, status, response, description)
        )
