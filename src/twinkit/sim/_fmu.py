"""FMUs as simulators, through FMPy: FMI 2.0 and 3.0, co-simulation and model exchange.

Three levels, as in FMPy (whose ``simulate_fmu`` is the one-call level this mirrors):

- one call: ``simulate(FmuSimulator("pump.fmu"), stop=60, dt=0.1)`` with the engine;
- read once, instantiate many: :class:`FmuModel` reads the model description and extracts the
  FMU once; :meth:`FmuModel.simulator` makes as many instances as an ensemble needs (an
  ``FmuModel`` pickles by path, so ``model.simulator`` is a factory a Dask worker can call);
- the standard itself: :class:`FmuSimulator` drives one FMU instance through the
  :class:`~twinkit.sim.Simulator` protocol (initialize, ``doStep`` or an integrator with event
  handling, get/set FMU state).

Variables: FMI parameters, inputs and outputs keep their causality; a model-exchange FMU's
continuous states that are not outputs are ``STATE`` variables. Every output and state is
returned after each step. ``initialize(state=...)`` sets the start value of a continuous state
(whatever its causality) before initialization; units come from the model description.

Model exchange is integrated the way ``simulate_fmu`` does it, with FMPy's own solvers (CVode
from ``fmpy.sundials`` by default, or its forward Euler: one Euler step per communication step,
as FMPy takes), stopping at time events and located state events and running the event
iteration there. A changed input is an event too (inputs are held over each step). So a run
through the engine gives the numbers ``simulate_fmu`` gives for the same step, tolerance and
maximum step (FMPy takes ``(stop - start) / 50``; pass ``max_step`` to match it).

FMPy is an optional extra (``twinkit[fmi]``): it is imported when an FMU is first read.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from twinkit.errors import SimulationError, TwinkitError, ValidationError
from twinkit.sim._fmu_access import (
    Scalar,
    deserialize_state,
    fmi_call,
    free_state,
    map_scalars,
    reader,
    serialize_state,
    set_fmu_state,
    stepper,
)
from twinkit.sim._fmu_me import Integrator
from twinkit.sim._protocol import Causality, Variable, check_inputs, check_parameters

__all__ = ["FmuModel", "FmuSimulator", "FmuState"]

logger = logging.getLogger(__name__)

Interface = Literal["CoSimulation", "ModelExchange"]
Solver = Literal["CVode", "Euler"]
_INTERFACES = ("CoSimulation", "ModelExchange")
_INSTANCES = itertools.count(1)


def _fmpy() -> Any:
    try:
        import fmpy
    except ImportError as error:  # pragma: no cover - the extra is installed in the test env
        raise SimulationError("FMUs need FMPy: pip install 'twinkit[fmi]'", where="fmu") from error
    return fmpy


class FmuModel:
    """An FMU read once: model description, files extracted, variables mapped to twinkit's.

    ``path`` is an ``.fmu`` file or a folder with an extracted FMU. ``interface`` picks
    co-simulation or model exchange where the FMU has both (co-simulation by default, as FMPy).
    Raises :class:`ValidationError` when the path is not an FMU and :class:`SimulationError`
    when the FMU has no binary for this platform.
    """

    __slots__ = (
        "__weakref__",
        "_cleanup",
        "description",
        "directory",
        "interface",
        "path",
        "scalars",
        "variables",
    )

    def __init__(self, path: str | PathLike[str], *, interface: Interface | None = None) -> None:
        fmpy = _fmpy()
        self.path = Path(path).resolve()
        self.description: Any = _read_description(self.path)
        self.interface: Interface = _pick_interface(self.description, interface, self.path)
        _check_platform(fmpy, self.path)
        self.scalars: tuple[Scalar, ...] = map_scalars(self.description, self.interface)
        self.variables: tuple[Variable, ...] = tuple(s.variable for s in self.scalars)
        if self.path.is_dir():
            self.directory = self.path
            self._cleanup: Callable[[], Any] | None = None
        else:
            self.directory = Path(
                fmpy.extract(
                    str(self.path), include=lambda n: n.startswith(("binaries/", "resources/"))
                )
            )
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        logger.debug("read FMU %s (%s, FMI %s)", self.path, self.interface, self.fmi_version)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles by path: a worker re-reads the FMU (which must be at the same path there).
        return (_load_model, (str(self.path), self.interface))

    def __repr__(self) -> str:
        return f"FmuModel({str(self.path)!r}, interface={self.interface!r})"

    @property
    def name(self) -> str:
        """The model's name from its description."""
        return str(self.description.modelName)

    @property
    def fmi_version(self) -> int:
        """2 or 3."""
        return 2 if self.description.fmiVersion == "2.0" else 3

    @property
    def token(self) -> str:
        """The GUID (FMI 2) or instantiation token (FMI 3) that ties states to this FMU."""
        return str(self.description.guid)

    @property
    def capabilities(self) -> Any:
        """The description's capability flags of the interface in use."""
        if self.interface == "CoSimulation":
            return self.description.coSimulation
        return self.description.modelExchange

    def simulator(self, **options: Any) -> FmuSimulator:
        """A new, uninstantiated simulator of this FMU (``options`` as for FmuSimulator)."""
        return FmuSimulator(self, **options)


def _load_model(path: str, interface: Interface) -> FmuModel:
    return FmuModel(path, interface=interface)


def _read_description(path: Path) -> Any:
    from fmpy.model_description import read_model_description

    if not path.exists():
        raise ValidationError(
            f"no FMU at {path}",
            path=str(path),
            expected="an .fmu file or a folder with an extracted FMU",
            got="nothing there",
        )
    try:
        return read_model_description(str(path), validate=True)
    except Exception as error:
        raise ValidationError(
            f"{path.name} is not a valid FMU: {error}",
            path=str(path),
            expected="a ZIP archive (or folder) with a valid modelDescription.xml",
            got=type(error).__name__,
        ) from error


def _pick_interface(description: Any, wanted: str | None, path: Path) -> Interface:
    has = [
        name
        for name, part in zip(
            _INTERFACES, (description.coSimulation, description.modelExchange), strict=True
        )
        if part is not None
    ]
    if description.fmiVersion not in ("2.0",) and not str(description.fmiVersion).startswith("3."):
        raise ValidationError(
            f"unsupported FMI version {description.fmiVersion}",
            path=str(path),
            expected="FMI 2.0 or 3.0",
            got=description.fmiVersion,
        )
    choice = wanted if wanted is not None else (has[0] if has else None)
    if choice not in has:
        raise ValidationError(
            f"{path.name} has no {choice or 'co-simulation or model exchange'} interface",
            path=str(path),
            expected=f"one of {has}",
            got=wanted,
        )
    return "CoSimulation" if choice == "CoSimulation" else "ModelExchange"


def _check_platform(fmpy: Any, path: Path) -> None:
    platforms = fmpy.supported_platforms(str(path))
    if fmpy.platform not in platforms:
        raise SimulationError(
            f"{path.name} has no binary for this platform ({fmpy.platform}); it has "
            f"{platforms or 'none'}: get or build the FMU for {fmpy.platform}",
            where=str(path),
        )


@dataclass(frozen=True, slots=True)
class FmuState:
    """An FMU instance's state at ``time``, for :meth:`FmuSimulator.set_state`.

    ``data`` is the FMU's serialized state when it can serialize (then any instance of the same
    FMU accepts it); otherwise ``handle`` is the FMU's own state object, valid only on the
    instance that made it and only until that instance is closed or re-initialized.
    """

    token: str
    time: float
    inputs: Mapping[str, float]
    data: bytes | None = None
    handle: Any = field(default=None, compare=False)
    owner: int = 0
    next_event: float | None = None


class FmuSimulator:
    """One FMU instance behind the :class:`~twinkit.sim.Simulator` protocol.

    ``fmu`` is a path or an :class:`FmuModel`. Model exchange options: ``solver`` ("CVode" or
    "Euler"), ``relative_tolerance`` (default: the FMU's default experiment, else 1e-5 as FMPy),
    ``max_step`` and ``max_solver_steps`` (CVode's internal limits). The FMU is instantiated by
    :meth:`initialize` and freed by :meth:`close` (or at a new ``initialize``). The outputs
    ``initialize`` returns are for the inputs' start values: inputs are set at the start of the
    first step (FMPy sets ``input(t0)`` during initialization), and agree from then on.
    """

    def __init__(
        self,
        fmu: str | PathLike[str] | FmuModel,
        *,
        interface: Interface | None = None,
        instance_name: str | None = None,
        solver: Solver = "CVode",
        relative_tolerance: float | None = None,
        max_step: float = math.inf,
        max_solver_steps: int = 500,
        debug_logging: bool = False,
    ) -> None:
        if isinstance(fmu, FmuModel):
            if interface is not None and interface != fmu.interface:
                raise ValidationError(
                    "interface differs from the FmuModel's",
                    path="interface",
                    expected=fmu.interface,
                    got=interface,
                )
            self.model = fmu
        else:
            self.model = FmuModel(fmu, interface=interface)
        if solver not in ("CVode", "Euler"):
            raise ValidationError(
                "unknown solver", path="solver", expected="'CVode' or 'Euler'", got=solver
            )
        if not max_step > 0:
            raise ValidationError("max_step must be positive", path="max_step", got=max_step)
        self.instance_name = instance_name or self.model.name
        self._options = _Options(
            solver, _tolerance(self.model, relative_tolerance), max_step, max_solver_steps
        )
        self._debug_logging = debug_logging
        self._by_name = {s.variable.name: s for s in self.model.scalars}
        self._messages: deque[str] = deque(maxlen=20)
        self._fmu: Any = None
        self._integrator: Integrator | None = None
        self._read: Callable[[], dict[str, float]] = dict
        self._do_step: Callable[[float, float], bool] = _no_step
        self._time = 0.0
        self._applied: dict[str, float] = {}
        self._handles: list[Any] = []
        self._instance = 0  # which instantiation this is: a state handle is valid in it only
        self._initialized = False
        self._where = f"fmu {self.model.name}"

    @property
    def variables(self) -> Sequence[Variable]:
        return self.model.variables

    def __enter__(self) -> FmuSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- initialize --------------------------------------------------------------------------

    def initialize(
        self,
        t0: float,
        parameters: Mapping[str, float] | None = None,
        state: Mapping[str, float] | None = None,
    ) -> Mapping[str, float]:
        check_parameters(self.variables, parameters, f"{self._where}/parameters")
        starts = {**(parameters or {}), **self._check_state(state or {})}
        for name in starts:
            if self._by_name[name].settable == "never":
                raise ValidationError(
                    f"{name!r} cannot be set before or during initialization (the FMU "
                    "calculates it)",
                    path=f"{self._where}/{name}",
                    expected="a variable with initial='exact' or 'approx'",
                    got=name,
                )
        self.close()
        self._time = float(t0)
        self._fmu = self._instantiate()
        self._instance = next(_INSTANCES)
        try:
            self._enter_initialization(starts)
            self._initialized = True
            self._read = reader(self._fmu, self.model)
            if self.model.interface == "CoSimulation":
                self._do_step = stepper(self._fmu, self.model)
            self._applied = {
                s.variable.name: float(s.variable.start or 0.0)
                for s in self.model.scalars
                if s.variable.causality is Causality.INPUT
            }
            if self.model.interface == "ModelExchange":
                self._integrator = Integrator(self._fmu, self.model, self._options, t0, self._error)
            with fmi_call(self._error, "reading the outputs", self._time):
                return self._read()
        except BaseException:
            self.close()
            raise

    def _check_state(self, state: Mapping[str, float]) -> dict[str, float]:
        seedable = {s.variable.name for s in self.model.scalars if s.state}
        for name, value in state.items():
            if name not in seedable:
                raise ValidationError(
                    f"{name!r} is not a continuous state of the FMU",
                    path=f"{self._where}/state/{name}",
                    expected=f"one of {sorted(seedable)}",
                    got=name,
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(
                    f"state {name!r} is not a number",
                    path=f"{self._where}/state/{name}",
                    expected="a finite number",
                    got=value,
                )
            if not math.isfinite(value):
                raise ValidationError(
                    f"state {name!r} is not finite",
                    path=f"{self._where}/state/{name}",
                    expected="a finite number",
                    got=value,
                )
        return dict(state)

    def _instantiate(self) -> Any:
        from fmpy.simulation import instantiate_fmu

        try:
            return instantiate_fmu(
                str(self.model.directory),
                self.model.description,
                fmi_type=self.model.interface,
                debug_logging=self._debug_logging,
                logger=self._log,
            )
        except Exception as error:
            raise SimulationError(
                f"could not instantiate {self.model.name} ({self.model.interface}): {error}"
                f"{self._said()}",
                where=self._where,
            ) from error

    def _enter_initialization(self, starts: Mapping[str, float]) -> None:
        fmu, t0, v2 = self._fmu, self._time, self.model.fmi_version == 2
        cs = self.model.interface == "CoSimulation"
        tolerance = self._options.tolerance if cs else None
        early = {n: v for n, v in starts.items() if self._by_name[n].settable_instantiated}
        late = {n: v for n, v in starts.items() if n not in early}
        with fmi_call(self._error, "setting up the experiment", t0):
            if v2:
                fmu.setupExperiment(tolerance=tolerance, startTime=t0)
        self._set_values(early)
        with fmi_call(self._error, "entering initialization mode", t0):
            if v2:
                fmu.enterInitializationMode()
            else:
                fmu.enterInitializationMode(tolerance=tolerance, startTime=t0)
        self._set_values(late)
        with fmi_call(self._error, "exiting initialization mode", t0):
            fmu.exitInitializationMode()

    def _set_values(self, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            scalar = self._by_name[name]
            with fmi_call(self._error, f"setting {name} = {value!r}", self._time, where=name):
                scalar.write(self._fmu, value)

    # --- step --------------------------------------------------------------------------------

    def step(self, t: float, dt: float, inputs: Mapping[str, float]) -> Mapping[str, float]:
        # The hot path of every run: no work beyond the FMI calls unless something is wrong.
        if self._fmu is None:
            raise SimulationError("step before initialize (or after close)", where=self._where)
        now = self._time
        if t != now and not abs(t - now) <= 1e-9 * max(1.0, abs(t)):
            raise SimulationError(
                f"step from t={t!r} s but the FMU is at t={now!r} s: steps must follow "
                "each other (use set_state to go back)",
                where=self._where,
            )
        if not 0 < dt < math.inf:
            raise ValidationError("step must be positive", path=self._where, got=dt)
        changed = self._changed(t, inputs) if inputs != self._applied else None
        end = t + dt
        try:
            if self._integrator is not None:
                apply = (lambda: self._set_values(changed)) if changed else None
                self._time = self._integrator.advance(now, end, apply)
            else:
                if changed:
                    self._set_values(changed)
                if self._do_step(now, end - now):
                    raise self._error(
                        f"the FMU ended the simulation in the step from t={t:g}", None
                    )
                self._time = end
            return self._read()
        except TwinkitError:
            raise
        except Exception as error:
            raise self._error(f"doStep by {dt:g} s failed at t={t:g} s: {error}", None) from error

    def _changed(self, t: float, inputs: Mapping[str, float]) -> dict[str, float]:
        values = check_inputs(self.variables, inputs, f"{self._where}/inputs at t={t:g}")
        changed = {n: v for n, v in values.items() if v != self._applied[n]}
        self._applied.update(changed)
        return changed

    # --- state -------------------------------------------------------------------------------

    def get_state(self) -> FmuState:
        """The FMU's state now (needs ``canGetAndSetFMUstate``; see :class:`FmuState`)."""
        fmu = self._require_state_support("get")
        with fmi_call(self._error, "getting the FMU state", self._time):
            handle = fmu.getFMUState() if self.model.fmi_version == 3 else fmu.getFMUstate()
            if self.model.capabilities.canSerializeFMUstate:
                data = serialize_state(fmu, handle, self.model.fmi_version)
                free_state(fmu, handle, self.model.fmi_version)
                handle = None
            else:
                data = None
                self._handles.append(handle)
        return FmuState(
            token=self.model.token,
            time=self._time,
            inputs=dict(self._applied),
            data=data,
            handle=handle,
            owner=self._instance if handle is not None else 0,
            next_event=self._integrator.next_event if self._integrator else None,
        )

    def set_state(self, state: Any) -> None:
        """Go back (or forward) to ``state``; initializes the FMU first if it is not yet."""
        if not isinstance(state, FmuState) or state.token != self.model.token:
            raise ValidationError(
                "not a state of this FMU",
                path=self._where,
                expected=f"an FmuState of {self.model.name} ({self.model.token})",
                got=type(state).__name__ if not isinstance(state, FmuState) else state.token,
            )
        if self._fmu is None:
            self.initialize(state.time)
        fmu = self._require_state_support("set")
        if state.data is None and state.owner != self._instance:
            raise SimulationError(
                f"{self.model.name} cannot serialize its state, so a state is valid only on "
                "the instance that got it, before it is closed or re-initialized",
                where=self._where,
            )
        version = self.model.fmi_version
        with fmi_call(self._error, "setting the FMU state", state.time):
            if state.data is not None:
                handle = deserialize_state(fmu, state.data, version)
                set_fmu_state(fmu, handle, version)
                free_state(fmu, handle, version)
            else:
                set_fmu_state(fmu, state.handle, version)
        self._time = state.time
        self._applied = dict(state.inputs)
        if self._integrator is not None:
            self._integrator.restart(state.time, state.next_event)

    def _require_state_support(self, verb: str) -> Any:
        if self._fmu is None:
            raise SimulationError(f"{verb} state before initialize", where=self._where)
        if not self.model.capabilities.canGetAndSetFMUstate:
            raise SimulationError(
                f"{self.model.name} cannot {verb} its state (canGetAndSetFMUstate is false in "
                f"its {self.model.interface} description): it cannot be forked or rewound",
                where=self._where,
            )
        return self._fmu

    # --- close and errors --------------------------------------------------------------------

    def close(self) -> None:
        fmu, self._fmu = self._fmu, None
        if fmu is None:
            return
        version, initialized = self.model.fmi_version, self._initialized
        self._initialized = False
        try:
            for handle in self._handles:
                free_state(fmu, handle, version)
            if initialized:
                fmu.terminate()
        except Exception as error:  # the instance is freed below all the same
            logger.warning("terminating %s failed: %s%s", self.model.name, error, self._said())
        finally:
            self._handles.clear()
            if self._integrator is not None:
                self._integrator.close()
                self._integrator = None
            try:
                fmu.freeInstance()
            except Exception as error:
                logger.warning("freeing %s failed: %s", self.model.name, error)

    def _log(self, *args: Any) -> None:
        # FMI 2 calls (component, instance, status, category, message); FMI 3 (env, status,
        # category, message): the last three are common.
        status, category, message = args[-3:]
        text, kind = _text(message), _text(category)
        self._messages.append(text)
        level = logging.WARNING if status >= 1 else logging.DEBUG
        logger.log(level, "%s [%s] %s", self.instance_name, kind, text)

    def _said(self) -> str:
        return f"; the FMU said: {' | '.join(self._messages)}" if self._messages else ""

    def _error(self, what: str, where: str | None) -> SimulationError:
        message = f"{self.model.name}: {what}{self._said()}"
        self._messages.clear()
        return SimulationError(message, where=f"{self._where}/{where}" if where else self._where)


def _no_step(t: float, h: float) -> bool:
    raise SimulationError("step before initialize", where="fmu")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class _Options:
    solver: Solver
    tolerance: float | None
    max_step: float
    max_solver_steps: int


def _tolerance(model: FmuModel, given: float | None) -> float | None:
    if given is not None:
        if not (math.isfinite(given) and given > 0):
            raise ValidationError(
                "relative tolerance must be positive", path="relative_tolerance", got=given
            )
        return given
    experiment = model.description.defaultExperiment
    if experiment is not None and experiment.tolerance is not None:
        return float(experiment.tolerance)
    return None
