"""The compiled validator: checks property, telemetry and command payloads of one model.

``ModelValidator(model_set, model_id)`` builds a checker closure per content once; each call
then costs a dict lookup and the checker itself. Values come back typed (see ``_checkers``)
and, when a unit is given, converted to the unit of the model by a cached factor and offset.

Components are reached by path: ``"motor/speed"`` is the content ``speed`` of the Component
``motor``; ``property("motor", {...})`` checks a component's properties at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from twinkit.errors import ValidationError
from twinkit.model._checkers import INTEGER_RANGES, Check, Invalid, checker, object_checker
from twinkit.model._columns import check_column
from twinkit.model._contents import Command, Component, Property, Relationship, Telemetry
from twinkit.model._modelset import ModelSet
from twinkit.model._quantities import conversion
from twinkit.model._schemas import PrimitiveSchema, Schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["BatchValidationError", "ModelValidator", "compile_validator"]

_MAX_COMPONENT_DEPTH: Final = 8
_CONVERTIBLE: Final = frozenset({PrimitiveSchema.DOUBLE, PrimitiveSchema.FLOAT, *INTEGER_RANGES})


class BatchValidationError(ValidationError):
    """Several entries of one payload are invalid; ``errors`` holds one ValidationError each."""

    def __init__(
        self, message: str, errors: Iterable[ValidationError], *, model: str | None = None
    ) -> None:
        super().__init__(message, model=model)
        self.errors: tuple[ValidationError, ...] = tuple(errors)

    def __str__(self) -> str:
        return "\n  ".join([super().__str__(), *(str(error) for error in self.errors)])


@dataclass(frozen=True, slots=True)
class _Entry:
    """One checkable content (or a Component's content, under ``component/name``)."""

    kind: str
    schema: Schema | None
    check: Check
    unit: str | None = None
    writable: bool = False


@dataclass(frozen=True, slots=True)
class _CommandEntry:
    request: _Entry | None
    request_nullable: bool
    response: _Entry | None
    response_nullable: bool


class ModelValidator:
    """Checks payloads against one model (an Interface of a ModelSet, inheritance included)."""

    __slots__ = (
        "_commands",
        "_converted",
        "_properties",
        "_property_checks",
        "_relationships",
        "_telemetry",
        "_telemetry_checks",
        "model_id",
    )

    def __init__(self, model_set: ModelSet, model_id: str) -> None:
        self.model_id = str(model_set[model_id].id)
        self._telemetry: dict[str, _Entry] = {}
        self._properties: dict[str, _Entry] = {}
        self._commands: dict[str, _CommandEntry] = {}
        self._relationships: dict[str, dict[str, _Entry]] = {}
        self._converted: dict[tuple[str, str, str], Check] = {}
        self._compile(model_set, model_id, "", 0)
        # The hot paths look up bare checkers, not entries.
        self._telemetry_checks = {name: e.check for name, e in self._telemetry.items()}
        self._property_checks = {name: e.check for name, e in self._properties.items()}

    def __repr__(self) -> str:
        return f"ModelValidator({self.model_id!r})"

    def kind(self, name: str) -> str | None:
        """``"telemetry"``, ``"property"``, ``"command"`` or ``"relationship"`` for a content
        name of the model (``component/name`` for a Component's content), else None."""
        if name in self._telemetry_checks:
            return "telemetry"
        if name in self._property_checks:
            return "property"
        if name in self._commands:
            return "command"
        if name in self._relationships:
            return "relationship"
        return None

    def split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Typed (telemetry, properties) of a device report naming contents of either kind.

        The ingest hot path: one dict lookup per value. Raises the ValidationError of the
        first bad value, or of a name that is neither telemetry nor a property.
        """
        telemetry: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        tchecks, pchecks = self._telemetry_checks, self._property_checks
        for name, value in values.items():
            check = tchecks.get(name)
            try:
                if check is not None:
                    telemetry[name] = check(value)
                    continue
                check = pchecks.get(name)
                if check is None:
                    raise self.unknown_content(name)
                properties[name] = check(value)
            except Invalid as err:
                kind = "telemetry" if name in tchecks else "property"
                raise self._error(kind, name, err) from None
        return telemetry, properties

    def is_writable(self, name: str) -> bool:
        """True for a writable property (one that takes desired values)."""
        entry = self._properties.get(name)
        return entry is not None and entry.writable

    def unknown_content(self, name: str) -> ValidationError:
        """The error for a value named ``name`` that is neither telemetry nor a property."""
        names = ", ".join(sorted([*self._telemetry, *self._properties])) or "none"
        return ValidationError(
            f"unknown content {name!r}: the model has no telemetry or property of that name",
            model=self.model_id,
            path=name,
            expected=f"one of: {names}",
            got=name,
        )

    # --- compilation ---------------------------------------------------------------------

    def _compile(self, model_set: ModelSet, model_id: str, prefix: str, depth: int) -> None:
        if depth > _MAX_COMPONENT_DEPTH:
            raise ValidationError(
                "Components nest too deeply",
                model=self.model_id,
                path=prefix.rstrip("/"),
                expected=f"at most {_MAX_COMPONENT_DEPTH} levels",
            )
        for name, content in model_set.contents(model_id).items():
            path = prefix + name
            if isinstance(content, Telemetry):
                self._telemetry[path] = _Entry(
                    "telemetry", content.schema, checker(content.schema), content.unit
                )
            elif isinstance(content, Property):
                self._properties[path] = _property_entry(content)
            elif isinstance(content, Command):
                self._commands[path] = _command_entry(content)
            elif isinstance(content, Relationship):
                self._relationships[path] = {p.name: _property_entry(p) for p in content.properties}
            elif isinstance(content, Component):
                self._compile(model_set, content.schema, path + "/", depth + 1)
                self._properties[path] = self._component_entry(path, content)

    def _component_entry(self, path: str, component: Component) -> _Entry:
        own = {
            name[len(path) + 1 :]: entry.check
            for name, entry in self._properties.items()
            if name.startswith(path + "/")
        }
        expected = f"the properties of Component {component.schema}: {', '.join(own)}"
        # IoT Plug and Play marks a component's reported properties with "__t": "c".
        check = object_checker(own, expected, ignored=frozenset({"__t"}))
        return _Entry("component", None, check, writable=True)

    # --- single values -------------------------------------------------------------------

    def telemetry(self, name: str, value: Any, *, unit: str | None = None) -> Any:
        """The typed telemetry value, converted from ``unit`` to the model's unit if given."""
        check = (
            self._telemetry_checks.get(name)
            if unit is None
            else self._converting(self._telemetry, name, unit)
        )
        if check is None:
            raise self._unknown(self._telemetry, "telemetry", name)
        try:
            return check(value)
        except Invalid as err:
            raise self._error("telemetry", name, err) from None

    def property(
        self, name: str, value: Any, *, unit: str | None = None, desired: bool = False
    ) -> Any:
        """The typed property value. ``desired=True`` also requires a writable property."""
        check = (
            self._property_checks.get(name)
            if unit is None
            else self._converting(self._properties, name, unit)
        )
        if check is None:
            raise self._unknown(self._properties, "property", name)
        if desired and not self._properties[name].writable:
            raise ValidationError(
                f"property {name!r} is not writable",
                model=self.model_id,
                path=name,
                expected="a writable property",
                got=value,
            )
        try:
            return check(value)
        except Invalid as err:
            raise self._error("property", name, err) from None

    def command_request(self, name: str, payload: Any) -> Any:
        """The typed request payload of the command ``name`` (None when it takes none)."""
        entry = self._command(name)
        return self._payload(name, "request", entry.request, entry.request_nullable, payload)

    def command_response(self, name: str, payload: Any) -> Any:
        """The typed response payload of the command ``name`` (None when it has none)."""
        entry = self._command(name)
        return self._payload(name, "response", entry.response, entry.response_nullable, payload)

    def relationship_properties(self, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The typed properties of one relationship (edge) of the Relationship ``name``."""
        entries = self._relationships.get(name)
        if entries is None:
            raise self._unknown(self._relationships, "relationship", name)
        checks = {key: entry.check for key, entry in entries.items()}
        return self._batch(
            f"relationship {name!r} property", entries, checks, payload, None, prefix=name + "/"
        )

    # --- batches and columns -------------------------------------------------------------

    def telemetry_batch(
        self, payload: Mapping[str, Any], *, units: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """A flat telemetry message, checked entry by entry: ``{name: typed value}``.

        Every bad entry is reported: the BatchValidationError lists each in ``errors``.
        """
        if not units:
            checks = self._telemetry_checks
            result = {}
            try:
                for name, value in payload.items():
                    result[name] = checks[name](value)
            except (KeyError, Invalid):
                pass  # report them all below
            else:
                return result
        return self._batch("telemetry", self._telemetry, self._telemetry_checks, payload, units)

    def property_batch(
        self,
        payload: Mapping[str, Any],
        *,
        units: Mapping[str, str] | None = None,
        desired: bool = False,
    ) -> dict[str, Any]:
        """A patch of several properties; every bad entry is reported, as for telemetry."""
        if desired:
            readonly = [
                ValidationError(
                    f"property {name!r} is not writable",
                    model=self.model_id,
                    path=name,
                    expected="a writable property",
                    got=value,
                )
                for name, value in payload.items()
                if name in self._properties and not self._properties[name].writable
            ]
            try:
                result = self._batch(
                    "property", self._properties, self._property_checks, payload, units
                )
            except BatchValidationError as err:
                readonly.extend(err.errors)
            if readonly:
                raise _batch_error("property", readonly, len(payload), self.model_id)
            return result
        return self._batch("property", self._properties, self._property_checks, payload, units)

    def telemetry_column(
        self, name: str, values: Any, *, unit: str | None = None
    ) -> npt.NDArray[np.generic]:
        """A numpy column of one telemetry, checked and converted as a whole.

        Numeric and boolean schemas are checked vectorised (double/float -> float64, integer
        schemas -> int64, unsignedLong -> uint64); other schemas value by value (object array).
        Every bad index is reported in the BatchValidationError's ``errors``.
        """
        entry = self._telemetry.get(name)
        if entry is None:
            raise self._unknown(self._telemetry, "telemetry", name)
        factor, offset = (1.0, 0.0) if unit is None else self._factor(entry, name, unit)
        scalar = entry.check if unit is None else self._converting(self._telemetry, name, unit)
        assert scalar is not None  # the entry exists
        bad: list[ValidationError] = []

        def report(index: int, err: Invalid) -> None:
            bad.append(self._error("telemetry", f"{name}/{index}", err))

        try:
            column = check_column(
                entry.schema, scalar, values, factor=factor, offset=offset, report=report
            )
        except Invalid as err:
            raise self._error("telemetry", name, err) from None
        if bad:
            raise BatchValidationError(
                f"{len(bad)} values of telemetry {name!r} are invalid (first at {bad[0].path})",
                bad,
                model=self.model_id,
            )
        return column

    # --- helpers -------------------------------------------------------------------------

    def _batch(
        self,
        kind: str,
        entries: Mapping[str, Any],
        checks: Mapping[str, Check],
        payload: Mapping[str, Any],
        units: Mapping[str, str] | None,
        *,
        prefix: str = "",
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        bad: list[ValidationError] = []
        for name, value in payload.items():
            try:
                unit = units.get(name) if units else None
                check = checks.get(name) if unit is None else self._converting(entries, name, unit)
                if check is None:
                    bad.append(self._unknown(entries, kind, name, prefix))
                    continue
                result[name] = check(value)
            except Invalid as err:
                bad.append(self._error(kind, prefix + name, err))
            except ValidationError as err:
                bad.append(err)
        if bad:
            raise _batch_error(kind, bad, len(payload), self.model_id)
        return result

    def _converting(self, entries: Mapping[str, Any], name: str, unit: str) -> Check | None:
        """The checker of ``name`` for values given in ``unit``, built once per unit."""
        entry = entries.get(name)
        if not isinstance(entry, _Entry):
            return None
        key = (entry.kind, name, unit)
        check = self._converted.get(key)
        if check is None:
            check = _converted(
                entry.check,
                *self._factor(entry, name, unit),
                integral=entry.schema not in (PrimitiveSchema.DOUBLE, PrimitiveSchema.FLOAT),
            )
            self._converted[key] = check
        return check

    def _factor(self, entry: _Entry, name: str, unit: str) -> tuple[float, float]:
        if entry.unit is None or entry.schema not in _CONVERTIBLE:
            raise ValidationError(
                f"{entry.kind} {name!r} has no unit to convert to",
                model=self.model_id,
                path=name,
                expected="a numeric content with a unit in the model",
                got=unit,
            )
        if unit == entry.unit:
            return 1.0, 0.0
        try:
            return conversion(unit, entry.unit)
        except ValidationError as err:
            raise ValidationError(
                err.message, model=self.model_id, path=name, expected=err.expected, got=unit
            ) from err

    def _command(self, name: str) -> _CommandEntry:
        entry = self._commands.get(name)
        if entry is None:
            raise self._unknown(self._commands, "command", name)
        return entry

    def _payload(
        self, name: str, part: str, entry: _Entry | None, nullable: bool, payload: Any
    ) -> Any:
        if payload is None and (entry is None or nullable):
            return None
        if entry is None:
            raise ValidationError(
                f"command {name!r} has no {part}",
                model=self.model_id,
                path=name,
                expected=f"no {part} (None)",
                got=payload,
            )
        try:
            return entry.check(payload)
        except Invalid as err:
            raise self._error(f"command {part}", name, err) from None

    def _error(self, kind: str, path: str, err: Invalid) -> ValidationError:
        full = "/".join([path, *reversed(err.where)])
        return ValidationError(
            f"{kind} {full!r}: {err.reason}",
            model=self.model_id,
            path=full,
            expected=err.expected,
            got=err.got,
        )

    def _unknown(
        self, known: Mapping[str, object], kind: str, name: str, prefix: str = ""
    ) -> ValidationError:
        names = ", ".join(sorted(known)) or "none"
        return ValidationError(
            f"unknown {kind} {name!r}",
            model=self.model_id,
            path=prefix + name,
            expected=f"one of: {names}",
            got=name,
        )


def compile_validator(model_set: ModelSet, model_id: str) -> ModelValidator:
    """The validator of ``model_id``: same as ``ModelValidator(model_set, model_id)``."""
    return ModelValidator(model_set, model_id)


def _property_entry(prop: Property) -> _Entry:
    return _Entry("property", prop.schema, checker(prop.schema), prop.unit, prop.writable)


def _command_entry(command: Command) -> _CommandEntry:
    def entry(part: str) -> _Entry | None:
        payload = getattr(command, part)
        if payload is None:
            return None
        return _Entry(f"command {part}", payload.schema, checker(payload.schema), payload.unit)

    return _CommandEntry(
        entry("request"),
        command.request is not None and command.request.nullable,
        entry("response"),
        command.response is not None and command.response.nullable,
    )


def _batch_error(
    kind: str, errors: list[ValidationError], total: int, model: str
) -> BatchValidationError:
    where = ", ".join(str(error.path) for error in errors)
    return BatchValidationError(
        f"{len(errors)} of {total} {kind} values are invalid: {where}", errors, model=model
    )


def _converted(check: Check, factor: float, offset: float, *, integral: bool) -> Check:
    """``check`` applied to a value converted by ``value * factor + offset``.

    For integer schemas a converted value within 1e-9 (relative) of a whole number is rounded
    to it, so that 50 degF gives 10 degC despite floating-point rounding.
    """
    to_number = checker(PrimitiveSchema.DOUBLE)

    def check_converted(value: Any) -> Any:
        converted = to_number(value) * factor + offset
        if integral:
            nearest = round(converted)
            if abs(converted - nearest) <= 1e-9 * max(1.0, abs(converted)):
                converted = float(nearest)
        return check(converted)

    if factor == 1.0 and offset == 0.0:
        return check
    return check_converted
