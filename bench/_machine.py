"""What machine a benchmark ran on, for the line every bench script prints."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """``<cpu>, <n> cores, Python <version>``."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
