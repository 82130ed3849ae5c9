"""The server's settings: one frozen object, CLI flags over ``TWINKIT_*`` variables over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from twinkit.errors import ValidationError

__all__ = ["Settings"]

_ENV_PREFIX = "TWINKIT_"


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``twinkit serve`` runs with.

    ``mqtt_url`` None means "start and supervise a local Mosquitto in ``data_dir``";
    ``mqtt_protocol`` is "5" or "3.1.1" (brokers that speak only 3.1.1, such as NATS).
    ``stream_queue`` bounds each WebSocket client's queue of unsent events: a client that falls
    that far behind is disconnected instead of holding up ingest. ``token_cache_s`` is how long
    a verified token is trusted without asking the store again (how long a revocation made by
    another process may take to apply).
    """

    data_dir: Path = Path("twinkit-data")
    host: str = "127.0.0.1"
    port: int = 8000
    mqtt_url: str | None = None
    mqtt_client_id: str = "twinkit"
    mqtt_protocol: str = "5"
    stream_queue: int = 1000
    token_cache_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValidationError(
                "port out of range", path="port", expected="0..65535", got=self.port
            )
        if self.mqtt_protocol not in ("5", "3.1.1"):
            raise ValidationError(
                "unknown MQTT protocol version",
                path="mqtt_protocol",
                expected="'5' or '3.1.1' (for brokers without MQTT 5, such as NATS)",
                got=self.mqtt_protocol,
            )
        if self.stream_queue < 1:
            raise ValidationError(
                "stream queue too small",
                path="stream_queue",
                expected="at least 1 event",
                got=self.stream_queue,
            )
        if self.token_cache_s < 0:
            raise ValidationError(
                "negative token cache time",
                path="token_cache_s",
                expected="seconds >= 0",
                got=self.token_cache_s,
            )

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from ``flags`` (None values ignored) over ``TWINKIT_<NAME>`` over defaults.

        Environment values are converted to each field's type; a bad one is a ValidationError
        naming the variable.
        """
        env = os.environ if env is None else env
        given: dict[str, Any] = {}
        for spec in fields(cls):
            variable = _ENV_PREFIX + spec.name.upper()
            if variable in env and env[variable] != "":
                given[spec.name] = _convert(spec.name, variable, env[variable])
        for name, value in (flags or {}).items():
            if name not in {spec.name for spec in fields(cls)}:
                raise ValidationError(
                    "unknown setting",
                    path=name,
                    expected=", ".join(spec.name for spec in fields(cls)),
                    got=name,
                )
            if value is not None:
                given[name] = _convert(name, f"--{name.replace('_', '-')}", value)
        return cls(**given)

    @property
    def database(self) -> Path:
        return self.data_dir / "twinkit.db"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"


_TYPES: dict[str, type] = {
    "data_dir": Path,
    "host": str,
    "port": int,
    "mqtt_url": str,
    "mqtt_client_id": str,
    "mqtt_protocol": str,
    "stream_queue": int,
    "token_cache_s": float,
}


def _convert(name: str, where: str, value: Any) -> Any:
    kind = _TYPES[name]
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise ValidationError(
            f"bad value for setting {name}",
            path=where,
            expected=f"a {kind.__name__}",
            got=value,
        ) from err
