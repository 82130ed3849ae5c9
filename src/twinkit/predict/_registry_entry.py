"""What the registry keeps about a trained model, and its artifact: the fitted object pickled.

:class:`RegistryEntry` is one version of a trained model (see
:mod:`twinkit.predict._registry`); :class:`Limit` an alert bound on a predicted value.

Artifacts are code: unpickling one imports its class and runs that class's code as it is
*now*. So each entry records the twinkit, Python and library versions that made it;
:func:`deserialize` refuses (StoreError) an artifact made by another twinkit major/minor
version unless told to ``allow_incompatible``, and warns when Python or a library differs. A
pickle can run anything: only load artifacts this store's own registry wrote (anyone who can
write the database can already change every twin). Loading checks the bytes against the
recorded SHA-256 and size, and the object against the recorded kind, inputs and window.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import pickle
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from twinkit.errors import StoreError, TwinkitError, ValidationError
from twinkit.predict._protocol import Detector, Predictor
from twinkit.store._sqlite_predictors import checksum_of

__all__ = [
    "ARTIFACT_FORMAT",
    "Kind",
    "Limit",
    "RegistryEntry",
    "TrainedModel",
    "check_name",
    "declared",
    "deserialize",
    "environment",
    "kind_of",
    "limits_from_json",
    "serialize",
    "twinkit_version",
]

logger = logging.getLogger(__name__)

Kind = Literal["predictor", "detector"]
TrainedModel: TypeAlias = Predictor | Detector
"""A fitted predictor or detector (what an artifact holds)."""

ARTIFACT_FORMAT: Final = "pickle-5"
"""How artifacts are serialized: :mod:`pickle`, protocol 5."""
_NAME: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?")
_LIBRARIES: Final = ("numpy", "pandas", "scipy", "scikit-learn")


def twinkit_version() -> str:
    """The installed twinkit's version (``0.0.0+unknown`` in a bare source tree)."""
    try:
        return importlib.metadata.version("twinkit")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def check_name(name: object, where: str = "name") -> str:
    """``name`` when it may name a registered model: letters, digits, ``.``, ``_`` and ``-``,
    starting and ending with a letter or digit, at most 128 characters."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            "bad predictor name",
            path=where,
            expected="1-128 letters, digits, '.', '_' or '-', starting and ending with a "
            "letter or digit, e.g. 'pump-anomaly'",
            got=name,
        )
    return name


def kind_of(model: object, where: str = "model") -> Kind:
    """``predictor`` or ``detector``: which protocol ``model`` implements (ValidationError for
    neither, or for both at once, which the runner could not serve unambiguously)."""
    is_predictor = isinstance(model, Predictor)
    is_detector = isinstance(model, Detector)
    if is_predictor != is_detector:
        return "predictor" if is_predictor else "detector"
    raise ValidationError(
        "not a predictor or a detector" if not is_predictor else "both a predictor and a detector",
        path=where,
        expected="an object with inputs, window and fit, and either predict (a Predictor) or "
        "score (a Detector)",
        got=type(model).__name__,
    )


@dataclass(frozen=True, slots=True)
class Limit:
    """When a predicted value deserves an alert: below ``below`` or above ``above``."""

    below: float | None = None
    above: float | None = None

    def __post_init__(self) -> None:
        for what, bound in (("below", self.below), ("above", self.above)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                raise ValidationError(
                    "bad limit", path=what, expected="a finite number or null", got=bound
                )
        if self.below is None and self.above is None:
            raise ValidationError(
                "a limit needs a bound", path="limit", expected="below and/or above", got=None
            )

    def crossed(self, value: float) -> bool:
        """Whether ``value`` is outside the limit."""
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )

    def describe(self, value: float) -> str:
        """Which bound ``value`` broke, for an alert's message."""
        if self.below is not None and value < self.below:
            return f"below {self.below:g}"
        return f"above {self.above:g}"

    def to_json(self) -> dict[str, float | None]:
        return {"below": self.below, "above": self.above}

    @classmethod
    def from_json(cls, obj: object, where: str) -> Limit:
        if not isinstance(obj, Mapping) or not set(obj) <= {"below", "above"}:
            raise ValidationError(
                "bad limit", path=where, expected='{"below": x} and/or {"above": y}', got=obj
            )
        try:
            return cls(obj.get("below"), obj.get("above"))
        except ValidationError as err:
            raise ValidationError(
                "bad limit", path=where, expected="finite numbers for below/above", got=dict(obj)
            ) from err


def limits_from_json(obj: object, where: str = "limits") -> dict[str, Limit]:
    """``{prediction name: {"below": x, "above": y}}`` as :class:`Limit` objects."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise ValidationError(
            "bad limits", path=where, expected='{"<prediction>": {"below": x}}', got=obj
        )
    return {str(name): Limit.from_json(value, f"{where}/{name}") for name, value in obj.items()}


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One version of a trained model, as the registry keeps it (the artifact aside).

    ``start``/``end`` and ``twins``: the history it learned from (None/empty when it was fitted
    on files); ``resample``: the bucket width (s) its rows were taken at, None for raw rows;
    ``factory``/``params``: how to make it again (training through the API); ``limits``: alert
    bounds per prediction name; ``prefix``: put before the names of the values it writes
    (``residual`` -> ``predicted:residual_anomaly_score``), so that two models serving the same
    twins do not write the same series; ``environment``: the versions of twinkit, Python and
    libraries that made it.
    """

    name: str
    version: int
    model: str
    kind: Kind
    inputs: tuple[str, ...]
    window: int
    created: float
    cause: str
    checksum: str
    size: int
    active: bool = False
    resample: float | None = None
    start: float | None = None
    end: float | None = None
    twins: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    limits: Mapping[str, Limit] = field(default_factory=lambda: MappingProxyType({}))
    factory: str | None = None
    prefix: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    class_name: str = ""
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def label(self) -> str:
        """``name@vN``, as logs and causes name a version."""
        return f"{self.name}@v{self.version}"

    def to_json(self) -> dict[str, Any]:
        """The entry as the API shows it (camelCase keys)."""
        return {
            "name": self.name,
            "version": self.version,
            "model": self.model,
            "kind": self.kind,
            "active": self.active,
            "inputs": list(self.inputs),
            "window": self.window,
            "resample": self.resample,
            "training": {"start": self.start, "end": self.end, "twins": list(self.twins)},
            "metrics": dict(self.metrics),
            "limits": {name: limit.to_json() for name, limit in self.limits.items()},
            "factory": self.factory,
            "prefix": self.prefix,
            "params": dict(self.params),
            "class": self.class_name,
            "created": self.created,
            "cause": self.cause,
            "artifact": {"format": ARTIFACT_FORMAT, "sha256": self.checksum, "size": self.size},
            "environment": dict(self.environment),
        }


def environment() -> dict[str, str]:
    """The versions an artifact made now depends on."""
    found = {"twinkit": twinkit_version(), "python": platform.python_version()}
    for library in _LIBRARIES:
        try:
            found[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _release(text: str) -> tuple[int, int] | None:
    found = re.match(r"(\d+)\.(\d+)", text)
    return None if found is None else (int(found.group(1)), int(found.group(2)))


def declared(trained: TrainedModel, where: str) -> tuple[tuple[str, ...], int]:
    """The inputs and window a model declares, checked."""
    try:
        inputs = tuple(trained.inputs)
        window = trained.window
    except TwinkitError:
        raise
    except Exception as err:
        raise ValidationError(
            "the model cannot say its inputs and window",
            path=where,
            expected="inputs (names) and window (rows) properties",
            got=f"{type(err).__name__}: {err}",
        ) from err
    if not inputs or not all(isinstance(name, str) and name for name in inputs):
        raise ValidationError(
            "bad model inputs", path=f"{where}/inputs", expected="one or more names", got=inputs
        )
    if len(set(inputs)) != len(inputs):
        raise ValidationError(
            "repeated model inputs", path=f"{where}/inputs", expected="distinct names", got=inputs
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValidationError(
            "bad model window", path=f"{where}/window", expected="an integer >= 1", got=window
        )
    return inputs, window


def serialize(trained: TrainedModel, where: str) -> bytes:
    """The artifact bytes of a fitted model (pickle, protocol 5)."""
    try:
        return pickle.dumps(trained, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise ValidationError(
            "the fitted model cannot be serialized",
            path=where,
            expected="a picklable object (a class importable by module and name, no lambdas "
            "or open files)",
            got=f"{type(trained).__module__}.{type(trained).__qualname__}: {err}",
        ) from err


def deserialize(
    entry: RegistryEntry, data: bytes, *, allow_incompatible: bool = False
) -> TrainedModel:
    """The fitted object of ``entry`` from its artifact bytes, checked against the entry."""
    where = f"artifact of {entry.label}"
    if len(data) != entry.size or checksum_of(data) != entry.checksum:
        raise StoreError(
            f"{where} is corrupt: expected {entry.size} bytes with SHA-256 {entry.checksum}, "
            f"got {len(data)} bytes with SHA-256 {checksum_of(data)}; retrain the model"
        )
    _check_environment(entry, allow_incompatible)
    try:
        trained = pickle.loads(data)
    except Exception as err:
        raise StoreError(
            f"{where} cannot be loaded: expected a pickled {entry.class_name or entry.kind}, "
            f"got {type(err).__name__}: {err} (was its class renamed or moved? retrain it)"
        ) from err
    try:
        kind = kind_of(trained, where)
        inputs, window = declared(trained, where)
    except ValidationError as err:
        raise StoreError(f"{where} is not a usable model: {err}") from err
    if (kind, inputs, window) != (entry.kind, entry.inputs, entry.window):
        raise StoreError(
            f"{where} does not match its record: expected a {entry.kind} of inputs "
            f"{list(entry.inputs)} and window {entry.window}, got a {kind} of inputs "
            f"{list(inputs)} and window {window}"
        )
    checked: TrainedModel = trained
    return checked


def _check_environment(entry: RegistryEntry, allow_incompatible: bool) -> None:
    made_by = entry.environment.get("twinkit", "")
    running = twinkit_version()
    made, now = _release(made_by), _release(running)
    if made is not None and now is not None and made != now:
        message = (
            f"artifact of {entry.label} was made by twinkit {made_by}, this is twinkit {running}: "
            "artifacts are Python objects tied to the code that made them"
        )
        if not allow_incompatible:
            raise StoreError(
                f"{message}; expected the same major.minor version: retrain the model (or "
                "load it with allow_incompatible=True at your own risk)"
            )
        logger.warning("%s; loading anyway (allow_incompatible)", message)
    current = environment()
    for library, version in entry.environment.items():
        if library != "twinkit" and current.get(library, version) != version:
            logger.warning(
                "artifact of %s was made with %s %s, this is %s %s: its results may differ",
                entry.label,
                library,
                version,
                library,
                current.get(library),
            )
