"""twinkit: an open-source digital twin platform.

A live, queryable, simulatable mirror of a physical system, fed by IoT data, that closes the loop
back to the physical world. The public API is what ``__all__`` lists; everything else is private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from twinkit.errors import TwinkitError

try:
    __version__ = version("twinkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["TwinkitError", "__version__"]
