"""twinkit: an open-source digital twin platform.

A live, queryable, simulatable mirror of a physical system, fed by IoT data, that closes the loop
back to the physical world. The public API is what ``__all__`` lists; everything else is private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from twinkit.errors import TwinkitError

if TYPE_CHECKING:
    from twinkit.api._client import Client, ClientError

try:
    __version__ = version("twinkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["Client", "ClientError", "TwinkitError", "__version__"]

_LAZY = {"Client": "twinkit.api._client", "ClientError": "twinkit.api._client"}
"""Names imported on first use, so ``import twinkit`` does not load the API (and pandas)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twinkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
