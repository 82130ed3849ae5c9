"""Request bodies (pydantic, at the edge only) and the JSON forms of answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from twinkit.core import (
    CommandResult,
    PropertyState,
    Twin,
    edge_to_json,
    property_to_json,
    twin_to_json,
)
from twinkit.errors import ValidationError
from twinkit.store import DeadLetter, TokenRecord

__all__ = [
    "DesiredBody",
    "PatchOp",
    "RelationshipBody",
    "ReplayBody",
    "TokenBody",
    "TwinBody",
    "command_json",
    "dead_letter_json",
    "edge_json",
    "parse_if_match",
    "patch_to_report",
    "property_json",
    "token_json",
    "twin_json",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TwinBody(_Body):
    """Create a twin. ``id`` is needed only when POSTing to ``/twins``."""

    id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("id", "$dtId"),
        description="the twin id (POST only; also accepted as $dtId)",
    )
    model: str = Field(
        validation_alias=AliasChoices("model", "$model"),
        description="the DTMI of the twin's model (also accepted as $model)",
    )
    properties: dict[str, Any] = Field(default_factory=dict, description="initial values")


class PatchOp(_Body):
    """One RFC 6902 operation; twinkit applies add, replace and remove on ``/<property>``."""

    op: Literal["add", "replace", "remove", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")


class DesiredBody(_Body):
    value: Any = Field(description="the desired value; validated against the property's schema")


class RelationshipBody(_Body):
    name: str = Field(description="the relationship's name in the source twin's model")
    target: str = Field(description="the target twin's id")
    id: str | None = Field(default=None, description="the relationship id; generated if absent")
    properties: dict[str, Any] = Field(default_factory=dict)


class TokenBody(_Body):
    role: Literal["viewer", "operator", "admin"]
    name: str = Field(default="", max_length=200)


class ReplayBody(_Body):
    ids: list[int] | None = Field(default=None, description="dead letters to replay; all if null")


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def patch_to_report(twin_id: str, ops: Sequence[PatchOp]) -> tuple[dict[str, Any], list[str]]:
    """Values to report and names to remove, from a JSON Patch on a twin's properties.

    Only ``add``/``replace``/``remove`` of a whole top-level property (``/<name>``) are
    supported; anything else is a ValidationError naming the operation.
    """
    values: dict[str, Any] = {}
    removed: list[str] = []
    for index, op in enumerate(ops):
        where = f"twin {twin_id} patch[{index}]"
        if op.op not in ("add", "replace", "remove"):
            raise ValidationError(
                "unsupported JSON Patch operation",
                path=where,
                expected="add, replace or remove",
                got=op.op,
            )
        segments = op.path.split("/")
        if len(segments) != 2 or segments[0] != "" or not segments[1]:
            raise ValidationError(
                "unsupported JSON Patch path",
                path=where,
                expected="/<property name> (a whole top-level property)",
                got=op.path,
            )
        name = _unescape(segments[1])
        if op.op == "remove":
            values.pop(name, None)
            removed.append(name)
        else:
            if "value" not in op.model_fields_set:
                raise ValidationError(
                    f"JSON Patch {op.op} without a value",
                    path=where,
                    expected='"value" (null allowed)',
                    got=op.model_dump(by_alias=True, exclude_unset=True),
                )
            values[name] = op.value
            if name in removed:
                removed.remove(name)
    return values, removed


def parse_if_match(header: str | None) -> int | None:
    """The version in an ``If-Match`` header (``3``, ``"3"`` or ``W/"3"``); None when absent."""
    if header is None or header.strip() in ("", "*"):
        return None
    text = header.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    try:
        version = int(text)
    except ValueError:
        raise ValidationError(
            "If-Match is not a twin version",
            path="header If-Match",
            expected="a twin version number, as the ETag header gives it",
            got=header,
        ) from None
    return version


def property_json(name: str, state: PropertyState) -> dict[str, Any]:
    """One property as the API shows it: reported next to desired, and whether they agree."""
    body = property_to_json(state)
    body["reported"] = state.reported if state.has_reported else None
    return {"name": name, **body, "inSync": state.in_sync}


def twin_json(twin: Twin) -> dict[str, Any]:
    """``twin_to_json`` plus ``$etag`` (the version, for If-Match) and ``inSync`` per property."""
    body = twin_to_json(twin)
    body["$etag"] = str(twin.version)
    for name, state in twin.properties.items():
        body["properties"][name]["inSync"] = state.in_sync
    return body


edge_json = edge_to_json
"""A relationship as the API shows it (the same JSON as in snapshots)."""


def command_json(result: CommandResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "twinId": result.twin_id,
        "name": result.name,
        "status": result.status,
        "ok": result.ok,
        "response": result.response,
        "description": result.description,
    }


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter; the payload as text when it is UTF-8, else as hex with ``encoding``."""
    try:
        payload, encoding = letter.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = letter.payload.hex(), "hex"
    return {
        "id": letter.id,
        "source": letter.source,
        "reason": letter.reason,
        "received": letter.received,
        "replayed": letter.replayed,
        "payload": payload,
        "encoding": encoding,
    }


def token_json(record: TokenRecord, secret: str | None = None) -> dict[str, Any]:
    """A token without its hash; with ``secret`` only in the answer that created it."""
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "created": record.created,
        "revoked": record.revoked,
    }
    if secret is not None:
        body["secret"] = secret
    return body
