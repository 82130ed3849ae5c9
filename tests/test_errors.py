"""The exception tree and the messages users read."""

from __future__ import annotations

import pickle

import pytest

from twinkit import errors
from twinkit.errors import TwinkitError, ValidationError

LEAVES = [
    errors.ValidationError,
    errors.NotFoundError,
    errors.ConflictError,
    errors.AuthError,
    errors.ConnectorError,
    errors.StoreError,
    errors.SimulationError,
]


@pytest.mark.parametrize("cls", LEAVES, ids=lambda c: c.__name__)
def test_every_error_has_the_one_root(cls: type[Exception]) -> None:
    assert issubclass(cls, TwinkitError)
    assert cls.__name__ in (errors.__doc__ or ""), "the docstring draws the whole tree"


def test_validation_error_says_what_where_and_what_came() -> None:
    error = ValidationError(
        "value out of range",
        model="dtmi:com:example:Pump;1",
        path="/flow",
        expected="a double",
        got="fast",
    )
    text = str(error)
    assert "value out of range" in text
    assert "dtmi:com:example:Pump;1" in text
    assert "/flow" in text
    assert "expected: a double" in text
    assert "got: 'fast'" in text
    assert (error.model, error.path, error.expected, error.got) == (
        "dtmi:com:example:Pump;1",
        "/flow",
        "a double",
        "fast",
    )


def test_validation_error_tells_none_from_not_given() -> None:
    given_none = ValidationError("missing value", got=None)
    not_given = ValidationError("missing value")
    assert given_none.has_got
    assert "got: None" in str(given_none)
    assert not not_given.has_got
    assert str(not_given) == "missing value"


def test_validation_error_shortens_huge_values() -> None:
    text = str(ValidationError("too long", got="x" * 10_000))
    assert len(text) < 300
    assert text.endswith("...")


def test_validation_error_survives_pickling() -> None:
    error = ValidationError("bad", model="dtmi:a;1", path="p", expected="e", got=None)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ValidationError
    assert str(copy) == str(error)
    assert copy.has_got
