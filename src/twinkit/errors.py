"""The twinkit exception tree.

Every error twinkit raises on purpose derives from one root, so callers can catch all of them
with one ``except``::

    TwinkitError
     ├── ValidationError    a model, twin, payload or setting does not fit what was expected
     ├── NotFoundError      a model, twin, relationship or series does not exist
     ├── ConflictError      a write lost a race (version mismatch) or would duplicate an id
     ├── AuthError          a caller is not authenticated or not allowed to do this
     ├── ConnectorError     a device, broker or outside system failed or sent garbage
     ├── StoreError         the store could not read or write durably
     └── SimulationError    a simulator failed to set up, diverged or was given bad inputs

Errors say what was expected, what came, and where; chain the cause with ``raise ... from err``.
This module is the bottom of the layer order: it imports nothing of twinkit, and every layer may
import it.
"""

from __future__ import annotations

from typing import Final, final

__all__ = [
    "AuthError",
    "ConflictError",
    "ConnectorError",
    "NotFoundError",
    "SimulationError",
    "StoreError",
    "TwinkitError",
    "ValidationError",
]


@final
class _Missing:
    """Type of :data:`_MISSING`, the marker for "not given" where ``None`` is a real value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


class TwinkitError(Exception):
    """Root of every error twinkit raises on purpose.

    ``where`` names the place of the problem when there is one: a twin id, a property path, a
    topic, ``file:line``. The API sends it as the ``where`` member of its error bodies.
    """

    where: str | None

    def __init__(self, *args: object, where: str | None = None) -> None:
        super().__init__(*args)
        self.where = where

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions, which
        # matters for errors raised in worker processes (pytest-xdist, Dask).
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


class ValidationError(TwinkitError):
    """Something does not fit what its model or schema expects.

    ``model`` is the model (DTMI) being checked against, ``path`` where in the checked thing the
    problem is (a JSON pointer, ``file:line`` or a twin id and property path), ``expected`` what
    was wanted and ``got`` what came. ``got`` may be any object, ``None`` included; when it was not
    given, :attr:`has_got` is false.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        path: str | None = None,
        expected: str | None = None,
        got: object = _MISSING,
    ) -> None:
        super().__init__(message, where=path)
        self.message = message
        self.model = model
        self.path = path
        self.expected = expected
        self._got = got

    @property
    def has_got(self) -> bool:
        """Whether the offending value was given (it may be ``None``)."""
        return self._got is not _MISSING

    @property
    def got(self) -> object:
        """The offending value; ``None`` when it was not given (see :attr:`has_got`)."""
        return None if self._got is _MISSING else self._got

    def __str__(self) -> str:
        parts = [self.message]
        if self.model is not None:
            parts.append(f"model: {self.model}")
        if self.path is not None:
            parts.append(f"at: {self.path}")
        if self.expected is not None:
            parts.append(f"expected: {self.expected}")
        if self.has_got:
            parts.append(f"got: {_short_repr(self._got)}")
        return "; ".join(parts)


def _rebuild(
    cls: type[TwinkitError], args: tuple[object, ...], state: dict[str, object]
) -> TwinkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _short_repr(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class NotFoundError(TwinkitError):
    """A model, twin, relationship or series that was asked for does not exist."""


class ConflictError(TwinkitError):
    """A write conflicts with the current state: a stale version or a duplicate id."""


class AuthError(TwinkitError):
    """The caller is not authenticated, or not allowed to do what was asked."""


class ConnectorError(TwinkitError):
    """A connector could not talk to its device, broker or outside system."""


class StoreError(TwinkitError):
    """The store could not read or write; nothing was acknowledged for the failed write."""


class SimulationError(TwinkitError):
    """A simulator could not be set up, failed to converge or was given inputs it cannot use."""
