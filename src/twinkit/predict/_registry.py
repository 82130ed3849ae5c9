"""The registry of trained models: every version of every predictor and detector, and which
one is active.

Each trained model has a ``name`` (``"pump-anomaly"``), versions 1, 2, ... numbered by the
store and never reused, the twin model (DTMI) it serves, its kind (``predictor`` or
``detector``), inputs and window, the range and twins it was trained on, its metrics, when and
by whom it was made, optional alert :class:`Limit` s on its predictions, and its *artifact*:
the fitted Python object, pickled. At most one version per name is *active*; the
:class:`~twinkit.predict.PredictionRunner` serves the active ones and swaps a newly activated
version in while ingest goes on (:meth:`PredictorRegistry.on_change`).

Artifacts are pickles kept in the store (see :mod:`twinkit.store._sqlite_predictors` for why
in the database): code, tied to the twinkit that made them. Loading one checks its bytes, the
versions that made it and the object it holds against the entry
(:mod:`twinkit.predict._registry_entry`); a mismatch is a StoreError naming the version.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from twinkit.core._derived import is_name
from twinkit.errors import NotFoundError, StoreError, TwinkitError, ValidationError
from twinkit.predict._registry_entry import (
    ARTIFACT_FORMAT,
    Kind,
    Limit,
    RegistryEntry,
    TrainedModel,
    check_name,
    declared,
    deserialize,
    environment,
    kind_of,
    limits_from_json,
    serialize,
)
from twinkit.store._sqlite_predictors import PredictorRecord, checksum_of

__all__ = ["LoadedModel", "PredictorRegistry", "RegistryStore"]

logger = logging.getLogger(__name__)


def _info(entry: RegistryEntry) -> dict[str, Any]:
    return {
        "inputs": list(entry.inputs),
        "window": entry.window,
        "resample": entry.resample,
        "training": {"start": entry.start, "end": entry.end, "twins": list(entry.twins)},
        "metrics": dict(entry.metrics),
        "limits": {name: limit.to_json() for name, limit in entry.limits.items()},
        "factory": entry.factory,
        "prefix": entry.prefix,
        "params": dict(entry.params),
        "class": entry.class_name,
        "format": ARTIFACT_FORMAT,
        "environment": dict(entry.environment),
    }


def _record(entry: RegistryEntry) -> PredictorRecord:
    return PredictorRecord(
        name=entry.name,
        model=entry.model,
        kind=entry.kind,
        created=entry.created,
        cause=entry.cause,
        checksum=entry.checksum,
        size=entry.size,
        info=_info(entry),
        active=entry.active,
    )


def _entry(record: PredictorRecord) -> RegistryEntry:
    info = record.info
    where = f"predictor {record.name}/{record.version}"
    try:
        training = info.get("training") or {}
        kind: Kind = "detector" if record.kind == "detector" else "predictor"
        return RegistryEntry(
            name=record.name,
            version=record.version,
            model=record.model,
            kind=kind,
            inputs=tuple(str(name) for name in info["inputs"]),
            window=int(info["window"]),
            created=record.created,
            cause=record.cause,
            checksum=record.checksum,
            size=record.size,
            active=record.active,
            resample=info.get("resample"),
            start=training.get("start"),
            end=training.get("end"),
            twins=tuple(training.get("twins") or ()),
            metrics=MappingProxyType(dict(info.get("metrics") or {})),
            limits=MappingProxyType(limits_from_json(info.get("limits"), f"{where}/limits")),
            factory=info.get("factory"),
            prefix=info.get("prefix"),
            params=MappingProxyType(dict(info.get("params") or {})),
            class_name=str(info.get("class") or ""),
            environment=MappingProxyType(dict(info.get("environment") or {})),
        )
    except (KeyError, TypeError, ValueError, TwinkitError) as err:
        raise StoreError(
            f"{where} has an unreadable record: expected inputs, window and training info, "
            f"got {type(err).__name__}: {err}"
        ) from err


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A registry entry with its fitted object, ready to serve."""

    entry: RegistryEntry
    model: TrainedModel


class RegistryStore(Protocol):
    """The store methods the registry uses (``SQLiteStore`` has them)."""

    async def add_predictor(self, record: PredictorRecord, artifact: bytes) -> PredictorRecord: ...

    async def predictor(self, name: str, version: int) -> PredictorRecord: ...

    async def predictors(self, name: str | None = None) -> list[PredictorRecord]: ...

    async def active_predictors(self) -> list[PredictorRecord]: ...

    async def predictor_artifact(self, name: str, version: int) -> bytes: ...

    async def activate_predictor(self, name: str, version: int) -> PredictorRecord: ...

    async def deactivate_predictor(self, name: str) -> None: ...

    async def delete_predictor(self, name: str, version: int) -> None: ...


Listener = Callable[[str], None]
"""Called (on the event loop) with the name whose active version may have changed."""


class PredictorRegistry:
    """Versions of trained models in a store; see the module docstring."""

    def __init__(self, store: RegistryStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._listeners: list[Listener] = []

    # --- writing --------------------------------------------------------------------------

    async def register(
        self,
        trained: TrainedModel,
        *,
        name: str,
        model: str,
        cause: str,
        twins: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        resample: float | None = None,
        metrics: Mapping[str, float] | None = None,
        limits: Mapping[str, Limit] | None = None,
        factory: str | None = None,
        params: Mapping[str, Any] | None = None,
        prefix: str | None = None,
        activate: bool = False,
    ) -> RegistryEntry:
        """Keep a fitted ``trained`` model as the next version of ``name``; returns its entry.

        Not active unless ``activate`` (then the previous active version is deactivated in the
        same transaction and the runner swaps it in). The object must pickle (a ValidationError
        names its class when it does not: lambdas and classes defined inside functions do not).
        """
        check_name(name)
        kind = kind_of(trained, f"predictor {name}")
        inputs, window = declared(trained, f"predictor {name}")
        data = serialize(trained, f"predictor {name}")
        entry = RegistryEntry(
            name=name,
            version=0,
            model=model,
            kind=kind,
            inputs=inputs,
            window=window,
            created=self._clock(),
            cause=cause,
            checksum=checksum_of(data),
            size=len(data),
            active=activate,
            resample=resample,
            start=start,
            end=end,
            twins=tuple(twins),
            metrics=MappingProxyType(_metrics(metrics or {}, name)),
            limits=MappingProxyType(dict(limits or {})),
            factory=factory,
            prefix=_prefix(prefix, name),
            params=MappingProxyType(dict(params or {})),
            class_name=f"{type(trained).__module__}:{type(trained).__qualname__}",
            environment=MappingProxyType(environment()),
        )
        kept = _entry(await self._store.add_predictor(_record(entry), data))
        active = ", active" if activate else ""
        logger.info(
            "registered %s (%s of %s, %d bytes)%s", kept.label, kind, model, kept.size, active
        )
        if activate:
            self._changed(name)
        return kept

    async def activate(self, name: str, version: int) -> RegistryEntry:
        """Make ``version`` the active one of ``name`` (the runner swaps it in)."""
        entry = _entry(await self._store.activate_predictor(name, version))
        logger.info("activated %s", entry.label)
        self._changed(name)
        return entry

    async def deactivate(self, name: str) -> None:
        """Serve no version of ``name`` any more."""
        await self._store.deactivate_predictor(name)
        logger.info("deactivated predictor %s", name)
        self._changed(name)

    async def delete(self, name: str, version: int) -> None:
        """Forget one version and its artifact (ConflictError while it is active)."""
        await self._store.delete_predictor(name, version)
        logger.info("deleted predictor %s@v%d", name, version)

    # --- reading --------------------------------------------------------------------------

    async def entries(self, name: str | None = None) -> list[RegistryEntry]:
        """Every version (of ``name``), by name then version; NotFoundError for an unknown
        ``name``."""
        found = [_entry(record) for record in await self._store.predictors(name)]
        if name is not None and not found:
            check_name(name)
            raise _unknown(name)
        return found

    async def active(self) -> list[RegistryEntry]:
        """The active version of every name that has one."""
        return [_entry(record) for record in await self._store.active_predictors()]

    async def get(self, name: str, version: int | None = None) -> RegistryEntry:
        """One version; without ``version`` the active one, or else the newest."""
        if version is not None:
            return _entry(await self._store.predictor(name, version))
        found = await self.entries(name)
        active = [entry for entry in found if entry.active]
        return active[0] if active else found[-1]

    async def load(
        self, name: str, version: int | None = None, *, allow_incompatible: bool = False
    ) -> LoadedModel:
        """The entry and its fitted object (unpickled on a worker thread); StoreError for a
        missing, corrupt or incompatible artifact."""
        entry = await self.get(name, version)
        data = await self._store.predictor_artifact(entry.name, entry.version)
        trained = await asyncio.to_thread(
            deserialize, entry, data, allow_incompatible=allow_incompatible
        )
        return LoadedModel(entry, trained)

    # --- changes --------------------------------------------------------------------------

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(name)`` whenever the active version of ``name`` may have changed
        through this registry; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def _changed(self, name: str) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(name)
            except Exception:
                logger.exception("registry listener %r failed on %s", listener, name)


def _unknown(name: str) -> NotFoundError:
    return NotFoundError(
        f"predictor {name!r} not found; expected the name of a registered predictor or "
        "detector (GET /api/v1/predictors lists them)",
        where=f"predictor {name}",
    )


def _prefix(prefix: str | None, name: str) -> str | None:
    if prefix is not None and not is_name(prefix):
        raise ValidationError(
            "bad prefix of predicted values",
            path=f"predictor {name}/prefix",
            expected="a DTDL name: letters, digits and '_', starting with a letter",
            got=prefix,
        )
    return prefix


def _metrics(metrics: Mapping[str, float], name: str) -> dict[str, float]:
    kept = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                "training metrics are numbers",
                path=f"predictor {name}/metrics/{key}",
                expected="a number",
                got=value,
            )
        if math.isfinite(value):
            kept[str(key)] = float(value)
        else:
            logger.warning("metric %s of %s is %s: not kept", key, name, value)
    return kept
