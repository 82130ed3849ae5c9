"""Factories: the kinds of model a server can train by name (``POST /predictors/{name}/train``).

A *factory* is a callable that takes keyword parameters (JSON values: ``window``, ``inputs``,
a threshold quantile...) and returns an unfitted :class:`~twinkit.predict.Predictor` or
:class:`~twinkit.predict.Detector`; a class is the usual factory. A server knows the factories
of

- the ``twinkit.predictors`` entry-point group of every installed distribution (twinkit's
  own models and those of plug-in packages: ``[project.entry-points."twinkit.predictors"]
  zscore = "mysite.models:ZScore"``), and
- a plug-in module, ``MODULE[:ATTR]`` (:func:`load_factories`): ``ATTR`` (default
  ``predictors``) is a mapping of names to factories, or a function of no arguments that
  returns one.

Factories given as ``"module:attribute"`` strings are imported when first used, so a broken
plug-in fails the training that needs it, with its reason, and nothing else.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias

from twinkit.errors import NotFoundError, ValidationError
from twinkit.predict._registry_entry import TrainedModel, check_name, declared, kind_of

__all__ = ["ENTRY_POINT_GROUP", "Factories", "Factory", "load_factories"]

logger = logging.getLogger(__name__)

Factory: TypeAlias = Callable[..., TrainedModel]
"""Makes an unfitted model from keyword parameters."""

ENTRY_POINT_GROUP: Final = "twinkit.predictors"
DEFAULT_ATTRIBUTE: Final = "predictors"


def _import(spec: str, where: str) -> Any:
    """The object ``module:attribute`` names (the current directory is searched too)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValidationError(
            "bad factory reference", path=where, expected="module:attribute", got=spec
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValidationError(
            f"module {module_name!r} cannot be imported: {err}",
            path=where,
            expected="an importable module (on PYTHONPATH or in the current directory)",
            got=module_name,
        ) from err
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValidationError(
                f"module {module_name!r} has no {attribute!r}",
                path=where,
                expected=f"an attribute {attribute} of {module_name}",
                got=spec,
            )
        found = getattr(found, part)
    return found


class Factories:
    """Named factories of models; see the module docstring."""

    def __init__(self, factories: Mapping[str, Factory | str] | None = None) -> None:
        self._factories: dict[str, Factory | str] = {}
        for name, factory in (factories or {}).items():
            self.add(name, factory)

    @classmethod
    def installed(cls) -> Factories:
        """The factories of the ``twinkit.predictors`` entry points installed."""
        found = cls()
        for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                found.add(point.name, point.value)
            except ValidationError as err:
                logger.warning("entry point %s of %s ignored: %s", point.name, point.group, err)
        return found

    def add(self, name: str, factory: Factory | str) -> None:
        """Know ``factory`` (a callable, or ``"module:attribute"``) as ``name``; a later one
        of the same name replaces the earlier."""
        check_name(name, f"factory {name}")
        if not callable(factory) and not isinstance(factory, str):
            raise ValidationError(
                "bad factory",
                path=f"factory {name}",
                expected="a callable returning a Predictor or Detector, or 'module:attribute'",
                got=type(factory).__name__,
            )
        self._factories[name] = factory

    def update(self, factories: Mapping[str, Factory | str]) -> None:
        for name, factory in factories.items():
            self.add(name, factory)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __len__(self) -> int:
        return len(self._factories)

    def get(self, name: str) -> Factory:
        """The callable of ``name`` (imported now if it was given as a string)."""
        factory = self._factories.get(name)
        if factory is None:
            raise NotFoundError(
                f"no factory {name!r} on this server; expected one of {self.names()} (plug-ins "
                f"register theirs as {ENTRY_POINT_GROUP!r} entry points or with "
                "load_factories('MODULE[:ATTR]'))",
                where=f"factory {name}",
            )
        if isinstance(factory, str):
            loaded = _import(factory, f"factory {name}")
            if not callable(loaded):
                raise ValidationError(
                    "factory is not callable",
                    path=f"factory {name}",
                    expected="a class or function",
                    got=type(loaded).__name__,
                )
            self._factories[name] = factory = loaded
        return factory

    def describe(self, name: str) -> dict[str, Any]:
        """Name, target and first docstring line of a factory, for listings (no import)."""
        factory = self._factories[name]
        if isinstance(factory, str):
            return {"name": name, "target": factory, "doc": None}
        target = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', '?')}"
        doc = inspect.getdoc(factory)
        return {"name": name, "target": target, "doc": doc.splitlines()[0] if doc else None}

    def create(self, name: str, params: Mapping[str, Any]) -> TrainedModel:
        """An unfitted model from factory ``name`` with ``params`` as keyword arguments."""
        factory = self.get(name)
        where = f"factory {name}"
        try:
            signature: inspect.Signature | None = inspect.signature(factory)
        except (TypeError, ValueError):
            signature = None
        if signature is not None:
            try:
                signature.bind(**params)
            except TypeError as err:
                raise ValidationError(
                    f"parameters do not fit factory {name!r}: {err}",
                    path=f"{where}/params",
                    expected=f"{name}{signature}",
                    got=dict(params),
                ) from err
        try:
            made = factory(**params)
        except ValidationError:
            raise
        except Exception as err:
            raise ValidationError(
                f"factory {name!r} failed: {type(err).__name__}: {err}",
                path=f"{where}/params",
                expected="parameters the factory accepts",
                got=dict(params),
            ) from err
        kind_of(made, where)
        declared(made, where)
        return made


def load_factories(spec: str) -> dict[str, Factory | str]:
    """The factories of the plug-in ``MODULE[:ATTR]`` (``ATTR`` defaults to ``predictors``):
    a mapping of names to factories, or a function returning one."""
    module_name, _, attribute = spec.partition(":")
    where = f"--predictors {spec}"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ValidationError(
            "bad predictor plug-in",
            path=where,
            expected="MODULE[:ATTR], e.g. mysite.models:predictors",
            got=spec,
        )
    found = _import(f"{module_name}:{attribute or DEFAULT_ATTRIBUTE}", where)
    if callable(found) and not isinstance(found, Mapping):
        try:
            found = found()
        except Exception as err:
            raise ValidationError(
                f"predictor plug-in {spec} failed: {type(err).__name__}: {err}",
                path=where,
                expected="a function returning {name: factory}",
                got=type(err).__name__,
            ) from err
    if not isinstance(found, Mapping):
        raise ValidationError(
            "predictor plug-in gave no mapping of factories",
            path=where,
            expected="{name: factory} (a dict of classes or functions)",
            got=type(found).__name__,
        )
    checked = Factories()  # checks every name and factory
    for name, factory in found.items():
        checked.add(str(name), factory)
    return {str(name): factory for name, factory in found.items()}
