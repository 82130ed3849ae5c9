"""FMI variables as twinkit variables, and fast reads and checked writes of their values.

FMI has typed variables (Real, Integer, Boolean in FMI 2; Float64, Int32, ... in FMI 3);
twinkit numbers are floats. Each mapped variable is a :class:`Scalar` that knows its value
reference, its FMI type, whether it is a continuous state and when it may be set. Strings,
binaries, clocks and arrays are not mapped (an FMU keeps them at their start values).
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from twinkit.errors import SimulationError, TwinkitError, ValidationError
from twinkit.sim._protocol import Causality, Variable

__all__ = [
    "ErrorFactory",
    "Scalar",
    "deserialize_state",
    "fmi_call",
    "free_state",
    "map_scalars",
    "reader",
    "serialize_state",
    "set_fmu_state",
    "stepper",
]

logger = logging.getLogger(__name__)

ErrorFactory = Callable[[str, "str | None"], SimulationError]
Settable = Literal["instantiated", "initialization", "never"]

_FMI2_TYPES = {"Real": "Real", "Integer": "Integer", "Enumeration": "Integer", "Boolean": "Boolean"}
_FMI3_TYPES = {
    **{t: t for t in ("Float64", "Float32", "Boolean")},
    **{t: t for t in ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")},
    "Enumeration": "Int64",
}
_FLOATS = {"Real", "Float64", "Float32"}
_CAUSALITY = {
    "parameter": Causality.PARAMETER,
    "input": Causality.INPUT,
    "output": Causality.OUTPUT,
}


@dataclass(frozen=True, slots=True)
class Scalar:
    """One FMI variable mapped to a twinkit :class:`Variable`."""

    variable: Variable
    vr: int
    fmi_type: str  # the suffix of FMPy's getter and setter: Real, Float64, Int32, Boolean...
    state: bool  # a continuous state: initialize(state=...) may set its start value
    settable: Settable

    @property
    def settable_instantiated(self) -> bool:
        return self.settable == "instantiated"

    def write(self, fmu: Any, value: float) -> None:
        """Set the value, converted to the FMI type (an integer type takes whole numbers)."""
        converted: float | int | bool
        if self.fmi_type == "Boolean":
            converted = value != 0
        elif self.fmi_type in _FLOATS:
            converted = float(value)
        elif float(value).is_integer():
            converted = int(value)
        else:
            raise ValidationError(
                f"{self.variable.name} is an FMI {self.fmi_type}",
                path=self.variable.name,
                expected="a whole number",
                got=value,
            )
        getattr(fmu, "set" + self.fmi_type)([self.vr], [converted])


def map_scalars(description: Any, interface: str) -> tuple[Scalar, ...]:
    """Every parameter, input, output and continuous state of the FMU that twinkit can carry."""
    types = _FMI2_TYPES if description.fmiVersion == "2.0" else _FMI3_TYPES
    states = {
        id(unknown.variable.derivative)
        for unknown in description.derivatives
        if unknown.variable is not None and unknown.variable.derivative is not None
    }
    scalars = []
    for var in description.modelVariables:
        is_state = id(var) in states
        causality = _CAUSALITY.get(var.causality, Causality.STATE if is_state else None)
        if causality is None or var.variability == "constant":
            continue
        if var.shape or var.type not in types:
            logger.debug("FMU variable %s (%s) is not mapped", var.name, var.type)
            continue
        unit = var.unit or (var.declaredType.unit if var.declaredType is not None else None)
        variable = Variable(
            name=var.name,
            causality=causality,
            start=_start(var.start),
            unit=unit,
            description=var.description or "",
        )
        scalars.append(
            Scalar(variable, int(var.valueReference), types[var.type], is_state, _settable(var))
        )
    logger.debug("%s: mapped %d variables (%s)", description.modelName, len(scalars), interface)
    return tuple(scalars)


def _start(start: Any) -> float | None:
    if start is None:
        return None
    if isinstance(start, str):
        lowered = start.strip().lower()
        if lowered in ("true", "false"):
            return 1.0 if lowered == "true" else 0.0
        return float(lowered)
    return float(start)


def _settable(var: Any) -> Settable:
    # FMPy's rules (settable_in_instantiated / settable_in_initialization_mode).
    if var.causality == "input" or var.initial in ("exact", "approx"):
        return "instantiated"
    if var.causality != "parameter" and var.variability == "tunable":
        return "initialization"
    return "never"


_CTYPES: dict[str, Any] = {
    "Real": ctypes.c_double,
    "Integer": ctypes.c_int,
    "Boolean": ctypes.c_int,  # fmi2Boolean
    "Float64": ctypes.c_double,
    "Float32": ctypes.c_float,
    "Int8": ctypes.c_int8,
    "UInt8": ctypes.c_uint8,
    "Int16": ctypes.c_int16,
    "UInt16": ctypes.c_uint16,
    "Int32": ctypes.c_int32,
    "UInt32": ctypes.c_uint32,
    "Int64": ctypes.c_int64,
    "UInt64": ctypes.c_uint64,
}


def reader(fmu: Any, model: Any) -> Callable[[], dict[str, float]]:
    """A function that reads every output and state of the instance, as floats.

    One FMI get call per type present, into buffers allocated once (this runs every step).
    """
    wanted = [
        s for s in model.scalars if s.variable.causality in (Causality.OUTPUT, Causality.STATE)
    ]
    groups: list[tuple[list[str], Callable[[], None], Any]] = []
    for fmi_type in dict.fromkeys(s.fmi_type for s in wanted):
        members = [s for s in wanted if s.fmi_type == fmi_type]
        groups.append(_group_reader(fmu, model.fmi_version, fmi_type, members))
    if len(groups) == 1:  # the usual case: all floats
        ((names, call, values),) = groups

        def read_one() -> dict[str, float]:
            call()
            return dict(zip(names, values, strict=True))

        return read_one

    def read() -> dict[str, float]:
        out: dict[str, float] = {}
        for names, call, values in groups:
            call()
            out.update(zip(names, map(float, values), strict=True))
        return out

    return read


def _group_reader(
    fmu: Any, version: int, fmi_type: str, members: list[Scalar]
) -> tuple[list[str], Callable[[], None], Any]:
    count = len(members)
    refs = (ctypes.c_uint32 * count)(*[s.vr for s in members])
    if version == 3 and fmi_type == "Boolean":
        values: Any = (ctypes.c_bool * count)()
    else:
        values = (_CTYPES[fmi_type] * count)()
    component = fmu.component
    raw = getattr(fmu, f"fmi{version}Get{fmi_type}")
    if version == 2:

        def call() -> None:
            raw(component, refs, count, values)

    else:

        def call() -> None:
            raw(component, refs, count, values, count)

    return [s.variable.name for s in members], call, values


def stepper(fmu: Any, model: Any) -> Callable[[float, float], bool]:
    """``doStep(t, h)`` of a co-simulation instance, straight to the FMI function; True when
    the FMU asks to end the simulation. A failing status raises FMPy's FMICallException."""
    component = fmu.component
    if model.fmi_version == 2:
        raw2 = fmu.fmi2DoStep

        def step2(t: float, h: float) -> bool:
            raw2(component, t, h, True)
            return False

        return step2
    raw3 = fmu.fmi3DoStep
    flags = [ctypes.c_bool() for _ in range(3)]
    last = ctypes.c_double()
    refs = [*(ctypes.byref(f) for f in flags), ctypes.byref(last)]
    terminate = flags[1]

    def step3(t: float, h: float) -> bool:
        raw3(component, t, h, True, *refs)
        return terminate.value

    return step3


@contextmanager
def fmi_call(error: ErrorFactory, what: str, t: float, where: str | None = None) -> Iterator[None]:
    """Turn an FMI call's failure into a :class:`SimulationError` naming what and when."""
    try:
        yield
    except TwinkitError:
        raise
    except Exception as failure:
        raise error(f"{what} failed at t={t:g} s: {failure}", where) from failure


# FMU states: FMI 2 spells them FMUstate, FMI 3 FMUState.


def serialize_state(fmu: Any, handle: Any, version: int) -> bytes:
    if version == 3:
        return bytes(fmu.serializeFMUState(handle))
    return bytes(fmu.serializeFMUstate(handle))


def deserialize_state(fmu: Any, data: bytes, version: int) -> Any:
    return fmu.deserializeFMUState(data) if version == 3 else fmu.deSerializeFMUstate(data)


def set_fmu_state(fmu: Any, handle: Any, version: int) -> None:
    if version == 3:
        fmu.setFMUState(handle)
    else:
        fmu.setFMUstate(handle)


def free_state(fmu: Any, handle: Any, version: int) -> None:
    if version == 3:
        fmu.freeFMUState(handle)
    else:
        fmu.freeFMUstate(handle)
