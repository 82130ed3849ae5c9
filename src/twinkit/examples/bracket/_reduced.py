"""The bracket's reduced-order model: trained once from full FE solves, cached, bound to twins.

:func:`bracket_rom` returns a :class:`BracketRom` for a :class:`BracketSpec`: loaded from the
cache when a ROM of that spec is there (``bracket-<spec key>.npz``, written by ``Rom.save``),
else trained — the full model assembled, one factorization per sampled crack stiffness and one
back-substitution per unit load (a load cell component), POD, then checked against full solves
of held-out random load cases — and saved for the next time. A file that does not load (another
format, broken) is trained again; a cache folder that cannot be written is only a warning.

The cache folder is ``cache_dir`` when given, else ``$TWINKIT_CACHE_DIR``, else
``$XDG_CACHE_HOME/twinkit`` (``~/.cache/twinkit``): a ROM depends only on the spec, so every
server and demo on a machine shares it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from twinkit.core import Twin
from twinkit.errors import ValidationError
from twinkit.examples.bracket._field import BracketField, evaluate_field, twin_field
from twinkit.examples.bracket._simulator import (
    DERIVED,
    YIELD,
    BracketSimulator,
    RomTiming,
)
from twinkit.examples.bracket._spec import BRACKET, CRACK, LOADS, BracketSpec, elastic_problem
from twinkit.sim._binding import SimulationBinding
from twinkit.sim._fem_elastic import ElasticSystem
from twinkit.sim._rom import Rom
from twinkit.sim._rom_train import sample_cases, train_rom

__all__ = ["BINDING_NAME", "CACHE_ENV", "BracketRom", "bracket_rom", "rom_cache_dir"]

logger = logging.getLogger(__name__)

CACHE_ENV: Final = "TWINKIT_CACHE_DIR"
BINDING_NAME: Final = "physics"
_VALIDATION_CASES: Final = 6
Progress = Callable[[float], None]


def rom_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where ROMs are kept: ``cache_dir``, ``$TWINKIT_CACHE_DIR`` or the user's cache folder."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "twinkit"


@dataclass(frozen=True, slots=True, eq=False)
class BracketRom:
    """A bracket's trained ROM, and what the twin does with it.

    ``trained`` tells whether this call trained it (else it came from ``path``); ``seconds``
    is how long training or loading took. ``timing`` collects the wall time of every
    evaluation the simulators it makes run (see :class:`RomTiming`).
    """

    spec: BracketSpec
    rom: Rom
    path: Path | None
    trained: bool
    seconds: float
    timing: RomTiming = field(default_factory=RomTiming)

    def simulator(self) -> BracketSimulator:
        """A fresh simulator (the binding's factory); it shares the ROM and the timing."""
        return BracketSimulator(
            self.rom, yield_strength=self.spec.yield_strength, timing=self.timing
        )

    def binding(self, *, dt: float = 1.0, name: str = BINDING_NAME) -> SimulationBinding:
        """The Bracket model's binding: loads in, gauges (with residuals) and derived values out.

        The model is static (``feedthrough``): each reading is compared with the model under
        that reading's loads; ``dt`` only splits long gaps between readings into steps.
        """
        gauges = {gauge: gauge for gauge in self.spec.gauge_names}
        return SimulationBinding(
            model=BRACKET,
            factory=self.simulator,
            dt=dt,
            parameters={YIELD: "yieldStrength"},
            inputs={load: load for load in LOADS},
            outputs={**gauges, **{name: name for name in DERIVED}},
            name=name,
            feedthrough=True,
        )

    def field(self, loads: Mapping[str, float], *, crack_stiffness: float = 1.0) -> BracketField:
        """The stress and displacement field under ``loads`` (N, by the load cell's names)."""
        return evaluate_field(self.rom, loads, crack_stiffness=crack_stiffness)

    def twin_field(self, twin: Twin, *, crack_stiffness: float = 1.0) -> BracketField:
        """The field under a twin's latest measured loads (see :func:`twin_field`)."""
        return twin_field(self.rom, twin, crack_stiffness=crack_stiffness)

    def describe(self) -> Iterator[str]:
        """Lines for a person: where the ROM came from, its size and its measured accuracy."""
        rom = self.rom
        how = "trained" if self.trained else "loaded"
        where = f" ({self.path})" if self.path is not None else " (not cached)"
        yield f"ROM {how} in {self.seconds:.2f} s{where}"
        yield (
            f"  rank {rom.rank} of {int(rom.meta['ndof']):,} degrees of freedom, from "
            f"{int(rom.meta['training_solves'])} full solves"
        )
        checked = rom.validation
        if checked is not None:
            worst = max(checked.max_output_error.values())
            yield (
                f"  worst relative error on {checked.cases} held-out load cases: "
                f"{worst:.2%} (outputs), {checked.max_field_error:.2%} (displacement field)"
            )


def bracket_rom(
    spec: BracketSpec | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    retrain: bool = False,
) -> BracketRom:
    """The ROM of ``spec`` (default: the demo bracket), from the cache or trained and cached.

    ``progress`` gets the fraction of training done (not called when loaded); ``retrain``
    ignores a cached file.
    """
    spec = spec or BracketSpec()
    path = rom_cache_dir(cache_dir) / f"bracket-{spec.key()}.npz"
    if path.is_file() and not retrain:
        started = time.perf_counter()
        loaded = _load(path, spec)
        if loaded is not None:
            return BracketRom(spec, loaded, path, False, time.perf_counter() - started)
    started = time.perf_counter()
    rom = train(spec, progress=progress)
    seconds = time.perf_counter() - started
    saved = _save(rom, path)
    logger.info("trained the bracket ROM (rank %d) in %.2f s", rom.rank, seconds)
    return BracketRom(spec, rom, saved, True, seconds)


def train(spec: BracketSpec, *, progress: Progress | None = None) -> Rom:
    """Train the ROM of ``spec`` from full solves; validated on held-out random load cases."""
    report = progress or (lambda fraction: None)
    report(0.0)
    system = ElasticSystem(elastic_problem(spec))
    report(0.1)
    side = 0.2 * spec.rated_load
    held_out = sample_cases(
        {"loadVertical": (0.0, 1.5 * spec.rated_load), "loadLateral": (-side, side)}
        | {"loadAxial": (-side, side)},
        {CRACK: spec.crack_range},
        count=_VALIDATION_CASES,
        seed=1,
    )
    rom = train_rom(
        system,
        ranges={CRACK: spec.crack_range},
        samples=spec.rom_samples,
        tolerance=spec.rom_tolerance,
        validation=held_out,
        progress=lambda fraction: report(0.1 + 0.9 * fraction),
    )
    rom.meta["bracket"] = {"key": spec.key(), "spec": asdict(spec)}
    checked = rom.validation
    if checked is not None and max(checked.max_output_error.values()) > 0.01:
        logger.warning(
            "the bracket ROM is off by more than 1%% on held-out cases: %s",
            checked.max_output_error,
        )
    return rom


def _load(path: Path, spec: BracketSpec) -> Rom | None:
    try:
        rom = Rom.load(path)
    except ValidationError as error:
        logger.warning("cached ROM %s does not load (%s): training it again", path, error)
        return None
    stored = rom.meta.get("bracket")
    if not isinstance(stored, dict) or stored.get("key") != spec.key():
        logger.warning("cached ROM %s is of another bracket: training it again", path)
        return None
    logger.info("loaded the bracket ROM (rank %d) from %s", rom.rank, path)
    return rom


def _save(rom: Rom, path: Path) -> Path | None:
    """Save next to ``path`` then rename: readers never see half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rom.save(partial)
        os.replace(partial, path)
    except OSError as error:
        logger.warning("could not cache the bracket ROM in %s: %s", path.parent, error)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return None
    return path
