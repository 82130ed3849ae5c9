"""The declarative MQTT mapping: which topics carry which twin's values, desired values and commands.

A topic template is an MQTT topic whose levels may hold variables in braces: ``{twin_id}`` (the
twin), ``{content}`` (one content's bare value is the whole payload) and ``{command}`` (a command
name). A template compiles to a subscription filter (each level with a variable becomes ``+``)
and to a matcher that takes the variables back out of a concrete topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from twinkit.errors import ValidationError

__all__ = ["DEFAULT_MAX_PAYLOAD", "MqttMapping", "TopicTemplate"]

DEFAULT_MAX_PAYLOAD: Final = 256 * 1024
_VARIABLE = re.compile(r"\{([^{}]*)\}")
_KNOWN_VARIABLES: Final = ("twin_id", "content", "command")


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """One compiled topic template, e.g. ``site/{twin_id}/telemetry``."""

    template: str
    variables: tuple[str, ...]
    filter: str
    _pattern: re.Pattern[str] = field(repr=False, compare=False)
    # (prefix, suffix) around the one variable when it is a whole level: matched without regex
    _affixes: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(
        cls, template: str, *, key: str, required: tuple[str, ...], allowed: tuple[str, ...]
    ) -> TopicTemplate:
        """Compile ``template``; errors name the mapping ``key`` it came from."""
        if not isinstance(template, str) or not template:
            raise ValidationError(
                "a topic template must be a non-empty string",
                path=key,
                expected="a topic such as 'site/{twin_id}/telemetry'",
                got=template,
            )
        if "+" in template or "#" in template or "\x00" in template:
            raise ValidationError(
                "a topic template must not hold MQTT wildcards ('+', '#') or NUL; "
                "use {twin_id}, {content} or {command} for the variable levels",
                path=key,
                got=template,
            )
        variables: list[str] = []
        filter_levels: list[str] = []
        regex_levels: list[str] = []
        for level in template.split("/"):
            names = _VARIABLE.findall(level)
            if "{" in _VARIABLE.sub("", level) or "}" in _VARIABLE.sub("", level):
                raise ValidationError(
                    "unbalanced brace in topic template", path=key, expected="{name}", got=template
                )
            for name in names:
                if name not in allowed:
                    raise ValidationError(
                        f"unknown variable {{{name}}} in topic template",
                        path=key,
                        expected="one of " + ", ".join(f"{{{v}}}" for v in allowed),
                        got=template,
                    )
                if name in variables:
                    raise ValidationError(
                        f"variable {{{name}}} appears twice in topic template",
                        path=key,
                        got=template,
                    )
                variables.append(name)
            filter_levels.append("+" if names else level)
            regex_levels.append(_level_regex(level))
        missing = [name for name in required if name not in variables]
        if missing:
            raise ValidationError(
                "topic template lacks " + ", ".join(f"{{{name}}}" for name in missing),
                path=key,
                expected="a template with " + ", ".join(f"{{{name}}}" for name in required),
                got=template,
            )
        pattern = re.compile("/".join(regex_levels))
        affixes = None
        if len(variables) == 1:
            levels = template.split("/")
            whole = f"{{{variables[0]}}}"
            if whole in levels:
                at = levels.index(whole)
                prefix = "/".join(levels[:at]) + "/" if at else ""
                suffix = "/" + "/".join(levels[at + 1 :]) if at + 1 < len(levels) else ""
                affixes = (prefix, suffix)
        return cls(template, tuple(variables), "/".join(filter_levels), pattern, affixes)

    @property
    def whole_level(self) -> bool:
        """Whether the template has one variable, making up a whole level (no regex needed)."""
        return self._affixes is not None

    def level_value(self, topic: str) -> str | None:
        """The value of the one variable of a :attr:`whole_level` template in ``topic``, or
        None when ``topic`` does not fit (always None for other templates)."""
        affixes = self._affixes
        if affixes is not None:
            prefix, suffix = affixes
            if topic.startswith(prefix) and topic.endswith(suffix):
                value = topic[len(prefix) : len(topic) - len(suffix)]
                if value and "/" not in value:
                    return value
        return None

    def match(self, topic: str) -> dict[str, str] | None:
        """The variables of ``topic``, or None when it does not fit this template."""
        if self._affixes is not None:
            value = self.level_value(topic)
            return None if value is None else {self.variables[0]: value}
        found = self._pattern.fullmatch(topic)
        return None if found is None else found.groupdict()

    def format(self, **values: str) -> str:
        """The concrete topic for these variables (each must be one non-empty topic level)."""
        topic = self.template
        for name in self.variables:
            value = values[name]
            if not value or "/" in value or "+" in value or "#" in value:
                raise ValidationError(
                    f"cannot put {name} into topic template {self.template!r}",
                    expected="a non-empty value without '/', '+' or '#'",
                    got=value,
                )
            topic = topic.replace(f"{{{name}}}", value)
        return topic


def _level_regex(level: str) -> str:
    parts: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(level):
        parts.append(re.escape(level[position : found.start()]))
        parts.append(f"(?P<{found.group(1)}>[^/]+)")
        position = found.end()
    parts.append(re.escape(level[position:]))
    return "".join(parts)


_DEFAULTS: Final[dict[str, Any]] = {
    "reports": ("site/{twin_id}/telemetry", "site/{twin_id}/properties"),
    "desired": "site/{twin_id}/desired",
    "commands": "site/{twin_id}/commands/{command}",
    "responses": "site/{twin_id}/commands/{command}/response",
    "status": "site/{twin_id}/status",
    "timestamp_field": "ts",
    "values_field": "values",
    "max_payload": DEFAULT_MAX_PAYLOAD,
}


@dataclass(frozen=True, slots=True)
class MqttMapping:
    """Where twins' data lives on an MQTT broker and how its payloads are shaped.

    ``reports`` are the device → twin topics; ``desired`` and ``commands`` the twin → device
    topics (None turns that direction off); ``responses`` carries command answers and
    ``status`` the device's birth/last-will ("online"/"offline"). ``timestamp_field`` and
    ``values_field`` name the keys of the timestamped payload form; ``max_payload`` is the
    largest payload, in bytes, that is parsed at all.
    """

    reports: tuple[str, ...] = _DEFAULTS["reports"]
    desired: str | None = _DEFAULTS["desired"]
    commands: str | None = _DEFAULTS["commands"]
    responses: str | None = _DEFAULTS["responses"]
    status: str | None = _DEFAULTS["status"]
    timestamp_field: str = _DEFAULTS["timestamp_field"]
    values_field: str = _DEFAULTS["values_field"]
    max_payload: int = _DEFAULTS["max_payload"]
    report_templates: tuple[TopicTemplate, ...] = field(init=False, repr=False, compare=False)
    desired_template: TopicTemplate | None = field(init=False, repr=False, compare=False)
    command_template: TopicTemplate | None = field(init=False, repr=False, compare=False)
    response_template: TopicTemplate | None = field(init=False, repr=False, compare=False)
    status_template: TopicTemplate | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.reports, str) or not isinstance(self.reports, tuple | list):
            raise ValidationError(
                "reports must be a list of topic templates",
                path="reports",
                expected="e.g. ['site/{twin_id}/telemetry']",
                got=self.reports,
            )
        reports = tuple(
            TopicTemplate.compile(
                t, key=f"reports[{i}]", required=("twin_id",), allowed=("twin_id", "content")
            )
            for i, t in enumerate(self.reports)
        )
        if not reports:
            raise ValidationError(
                "reports must name at least one topic template", path="reports", got=[]
            )
        object.__setattr__(self, "reports", tuple(self.reports))
        object.__setattr__(self, "report_templates", reports)
        for key, required in (
            ("desired", ("twin_id",)),
            ("commands", ("twin_id", "command")),
            ("responses", ("twin_id", "command")),
            ("status", ("twin_id",)),
        ):
            value = getattr(self, key)
            compiled = (
                None
                if value is None
                else TopicTemplate.compile(value, key=key, required=required, allowed=required)
            )
            name = {"commands": "command", "responses": "response"}.get(key, key)
            object.__setattr__(self, f"{name}_template", compiled)
        for key in ("timestamp_field", "values_field"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ValidationError(
                    f"{key} must be a non-empty string", path=key, expected="a key name", got=value
                )
        if self.timestamp_field == self.values_field:
            raise ValidationError(
                "timestamp_field and values_field must differ",
                path="values_field",
                got=self.values_field,
            )
        if (
            not isinstance(self.max_payload, int)
            or isinstance(self.max_payload, bool)
            or self.max_payload <= 0
        ):
            raise ValidationError(
                "max_payload must be a positive number of bytes",
                path="max_payload",
                expected="an integer > 0",
                got=self.max_payload,
            )

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> MqttMapping:
        """Build from a plain table (e.g. TOML's ``[connect.mqtt.mapping]``).

        Missing keys take the defaults; an empty string or ``false`` turns ``desired``,
        ``commands``, ``responses`` or ``status`` off. Errors name the bad key.
        """
        if not isinstance(table, Mapping):
            raise ValidationError(
                "an MQTT mapping must be a table", expected="a table of keys", got=table
            )
        unknown = sorted(set(table) - set(_DEFAULTS))
        if unknown:
            raise ValidationError(
                f"unknown key {unknown[0]!r} in MQTT mapping",
                path=unknown[0],
                expected="one of " + ", ".join(sorted(_DEFAULTS)),
                got=unknown[0],
            )
        values = dict(table)
        for key in ("desired", "commands", "responses", "status"):
            if values.get(key, True) in ("", False):
                values[key] = None
        if isinstance(values.get("reports"), list):
            values["reports"] = tuple(values["reports"])
        return cls(**values)

    def subscriptions(self) -> tuple[str, ...]:
        """The MQTT filters a connector subscribes to: reports, responses and status."""
        templates = [*self.report_templates, self.response_template, self.status_template]
        filters: list[str] = []
        for template in templates:
            if template is not None and template.filter not in filters:
                filters.append(template.filter)
        return tuple(filters)

    def match_report(self, topic: str) -> tuple[str, str | None] | None:
        """``(twin_id, content or None)`` of a report topic, or None when no template fits."""
        for template in self.report_templates:
            if template.whole_level:  # the hot path of ingest: its one variable is {twin_id}
                twin_id = template.level_value(topic)
                if twin_id is not None:
                    return twin_id, None
                continue
            found = template.match(topic)
            if found is not None:
                return found["twin_id"], found.get("content")
        return None
