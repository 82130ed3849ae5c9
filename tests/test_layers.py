"""The layer order of DESIGN.md holds: a layer imports only layers above it, never one below."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "twinkit"

# From the bottom (imports nothing of twinkit) to the top. `errors` sits under everything.
LAYERS = [
    "model",
    "core",
    "store",
    "bus",
    "connect",
    "query",
    "sim",
    "predict",
    "optimize",
    "assimilate",
    "rules",
    "api",
    "ui",
    "cli",
    "examples",
]
# The CLI and the examples are the outermost faces and share the top rank.
RANK = {name: index for index, name in enumerate(LAYERS)}
RANK["examples"] = RANK["cli"]


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def twinkit_imports(path: Path, src: Path = SRC) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for every twinkit module imported anywhere in the file.

    Relative imports are resolved against the file's package; imports inside functions and
    ``if TYPE_CHECKING:`` blocks count too. ``from twinkit import core`` yields ``twinkit.core``;
    ``from twinkit import __version__`` (a name, not a layer) yields the root ``twinkit``.
    """
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "twinkit" or alias.name.startswith("twinkit."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target != "twinkit" and not target.startswith("twinkit."):
                continue
            if target == "twinkit":
                for alias in node.names:
                    is_layer = alias.name in RANK or alias.name == "errors"
                    yield node.lineno, f"twinkit.{alias.name}" if is_layer else "twinkit"
            else:
                yield node.lineno, target


def layer_of(module: str) -> str | None:
    """The layer a twinkit module belongs to; None for the package root itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(path: Path, src: Path = SRC) -> list[str]:
    module = module_name(path, src)
    own = layer_of(module)
    if own is None:  # twinkit/__init__.py gathers the public API and may import anything
        return []
    found = []
    for line, imported in twinkit_imports(path, src):
        target = layer_of(imported)
        where = f"{module} ({path.relative_to(src)}:{line}) imports {imported}"
        if own == "errors":
            found.append(f"{where}: twinkit.errors must import nothing of twinkit")
        elif target in ("errors", own):
            continue
        elif target is None:
            # The package root may import every layer, so only the top faces may import it.
            if RANK.get(own, -1) < RANK["cli"]:
                found.append(
                    f"{where}: only cli and examples may import the twinkit package root "
                    "(it imports every layer); import from the defining module instead"
                )
        elif target not in RANK:
            found.append(f"{where}: '{target}' is not a layer listed in DESIGN.md")
        elif own not in RANK:
            found.append(f"{where}: '{own}' is not a layer listed in DESIGN.md")
        elif RANK[target] > RANK[own]:
            found.append(f"{where}: layer '{own}' must not import the higher layer '{target}'")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_there_are_modules_to_check() -> None:
    assert PACKAGE / "errors.py" in MODULES
    assert PACKAGE / "cli" / "__init__.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_layer_order(path: Path) -> None:
    found = violations(path)
    assert not found, "layer order broken:\n" + "\n".join(found)


def write(tmp_path: Path, relative: str, text: str) -> Path:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("relative", "source", "offending"),
    [
        ("twinkit/model/x.py", "from twinkit.core import twin\n", "twinkit.core"),
        ("twinkit/model/x.py", "from ..core.twin import Twin\n", "twinkit.core.twin"),
        ("twinkit/model/x.py", "def f():\n    import twinkit.store.sqlite\n", "twinkit.store"),
        (
            "twinkit/core/x.py",
            "import typing\nif typing.TYPE_CHECKING:\n    from twinkit.api import app\n",
            "twinkit.api",
        ),
        ("twinkit/core/__init__.py", "from .. import sim\n", "twinkit.sim"),
        ("twinkit/errors.py", "from twinkit.model import Model\n", "twinkit.model"),
        ("twinkit/sim/x.py", "from twinkit.cli import main\n", "twinkit.cli"),
        ("twinkit/model/x.py", "from twinkit import __version__\n", "imports twinkit:"),
        ("twinkit/core/x.py", "import twinkit\n", "imports twinkit:"),
    ],
)
def test_checker_catches_upward_imports(
    tmp_path: Path, relative: str, source: str, offending: str
) -> None:
    found = violations(write(tmp_path, relative, source), tmp_path)
    assert len(found) == 1
    assert module_name(tmp_path / relative, tmp_path) in found[0]
    assert offending in found[0]


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("twinkit/core/x.py", "from twinkit.model import Model\nfrom twinkit.errors import E\n"),
        ("twinkit/core/x.py", "from . import y\nfrom .y import z\n"),
        ("twinkit/api/x.py", "import twinkit.core.runtime\nfrom ..sim import ode\n"),
        ("twinkit/cli.py", "from twinkit.api import app\nfrom twinkit import __version__\n"),
        ("twinkit/__init__.py", "from twinkit.cli import main\n"),
        ("twinkit/model/x.py", "import json\nfrom twinkit.errors import ValidationError\n"),
    ],
)
def test_checker_allows_downward_imports(tmp_path: Path, relative: str, source: str) -> None:
    assert violations(write(tmp_path, relative, source), tmp_path) == []
