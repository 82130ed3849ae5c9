"""Ensembles of a lumped ODE model, integrated together in numpy along a member axis.

:func:`integrate` advances ``m`` members of one :class:`OdeModel` at once with a fixed-step
explicit method (classic RK4 by default, or Euler): the state is a matrix ``x[n_states, m]`` and
each stage is one call of the model's ``rhs`` on whole columns, so 10,000 members cost about as
many Python calls as one. Values common to all members are passed to the model as arrays of
shape ``(1,)``, which numpy broadcasts at scalar cost. Inputs are held over each step (as the
engine holds them), so with the same ``dt`` an ensemble member follows the same input history as
``simulate`` with an :class:`OdeSimulator`.

:func:`run_ensemble` samples uncertain parameters and initial states (Latin hypercube by
default, seeded) and integrates them into an :class:`EnsembleResult` (bands, frames, a plot). A
member whose state or outputs stop being finite is marked failed from then on and left out of
the bands; when every member fails the run raises :class:`SimulationError`.

Memory is ``members x recorded times x recorded names`` float64: record every ``k``-th step
(``record_every``) or only some names (``record``) for long horizons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._engine import input_function, step_ends
from twinkit.sim._ensemble import EnsembleResult
from twinkit.sim._ode import OdeModel, VectorField
from twinkit.sim._uncertain import Distribution, Sampling, sample

__all__ = ["EnsembleInputs", "integrate", "run_ensemble"]

logger = logging.getLogger(__name__)

Array: TypeAlias = npt.NDArray[np.float64]
Mask: TypeAlias = npt.NDArray[np.bool_]
ArrayLike: TypeAlias = "float | Sequence[float] | Array"
EnsembleInputs: TypeAlias = (
    "Mapping[str, ArrayLike] | Callable[[float], Mapping[str, ArrayLike]] | pd.DataFrame | None"
)
_PROGRESS_EVERY = 0.2  # seconds of wall-clock time between progress reports
_REASONS_SHOWN = 3


def integrate(
    model: OdeModel,
    *,
    stop: float,
    dt: float,
    start: float = 0.0,
    parameters: Mapping[str, ArrayLike] | None = None,
    initial: Mapping[str, ArrayLike] | None = None,
    inputs: EnsembleInputs = None,
    members: int | None = None,
    method: Literal["rk4", "euler"] = "rk4",
    record_every: int = 1,
    record: Sequence[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> EnsembleResult:
    """Integrate ``members`` copies of ``model`` together with fixed steps of ``dt``.

    ``parameters``, ``initial`` (states) and constant ``inputs`` take a number (every member)
    or an array with one value per member; the member count is their length (or
    ``members``). Unset ones take their ``start``. ``inputs`` may also be a function of time
    returning such values, or a time-indexed frame (held from row to row). Outputs are recorded
    at ``start``, every ``record_every`` steps and at ``stop``; ``record`` limits them to some
    names (states and outputs). ``progress`` gets the fraction done.
    """
    ends = step_ends(start, stop, dt)
    if method not in ("rk4", "euler"):
        raise ValidationError(
            "unknown fixed-step method", path="method", expected="'rk4' or 'euler'", got=method
        )
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
        raise ValidationError(
            "record_every must be a positive int",
            path="record_every",
            expected=">= 1",
            got=record_every,
        )
    where = f"ode model {model.name!r}"
    m = _member_count(members, parameters, initial, inputs if isinstance(inputs, Mapping) else None)
    p = _columns(model, model.parameters, parameters or {}, m, f"{where}/parameters")
    x0 = _columns(model, model.states, initial or {}, m, f"{where}/initial")
    names = _recorded(model, record, where)
    marks = sorted({*range(record_every - 1, len(ends), record_every), len(ends) - 1})
    run = _Run(
        model,
        p=p,
        inputs=_InputSource(model, inputs, m),
        names=names,
        records=len(marks) + 1,
        method=method,
    )
    x = np.stack([np.broadcast_to(x0[name], (m,)) for name in model.states])
    run.advance(start, ends, x, marks, progress)
    times = np.concatenate([[start], ends[marks]])
    columns = {name: np.broadcast_to(v, (m,)) for name, v in {**p, **x0}.items()}
    return run.result(times, pd.DataFrame(columns, index=pd.RangeIndex(m, name="member")))


def _member_count(members: int | None, *sources: Mapping[str, Any] | None) -> int:
    lengths: dict[str, int] = {}
    for source in sources:
        for name, value in (source or {}).items():
            shape = np.shape(value)
            if len(shape) > 1:
                raise ValidationError(
                    f"{name!r} has too many dimensions",
                    path=name,
                    expected="a number or a 1-d array with one value per member",
                    got=shape,
                )
            if shape and shape[0] != 1:  # one value is everyone's
                lengths[name] = shape[0]
    if members is not None:
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValidationError(
                "members must be >= 1", path="members", expected=">= 1", got=members
            )
        lengths["members"] = members
    if len(set(lengths.values())) > 1:
        raise ValidationError(
            "per-member values disagree on the member count",
            path="members",
            expected="every array of the same length (the number of members)",
            got=lengths,
        )
    return next(iter(lengths.values()), 1)


def _columns(
    model: OdeModel, known: tuple[str, ...], given: Mapping[str, Any], m: int, where: str
) -> dict[str, Array]:
    """A float64 array per name in ``known`` (see :func:`_member_array`); unset ones ``start``."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown name {unknown[0]!r}",
            path=f"{where}/{unknown[0]}",
            expected=f"one of {sorted(known)}",
            got=unknown,
        )
    columns: dict[str, Array] = {}
    for name in known:
        value = given.get(name, model.start(name))
        if value is None:
            raise ValidationError(
                f"{name!r} has no start value and was not given",
                path=f"{where}/{name}",
                expected="a value for it",
                got=None,
            )
        columns[name] = _member_array(value, m, f"{where}/{name}")
    return columns


def _member_array(value: Any, m: int, where: str) -> Array:
    """``value`` as shape ``(m,)`` (one per member) or ``(1,)`` (the same for all: cheaper)."""
    try:
        array = np.array(value, dtype=np.float64, ndmin=1)  # a copy the caller cannot change
    except (TypeError, ValueError) as error:
        raise ValidationError(
            "not a number or an array of one number per member",
            path=where,
            expected=f"a number or shape ({m},)",
            got=value,
        ) from error
    if array.shape not in ((1,), (m,)):
        raise ValidationError(
            "not a number or an array of one number per member",
            path=where,
            expected=f"a number or shape ({m},)",
            got=array.shape,
        )
    if not np.all(np.isfinite(array)):
        raise ValidationError(
            "values must be finite",
            path=where,
            expected="finite numbers",
            got=int(np.count_nonzero(~np.isfinite(array))),
        )
    return array


def _recorded(model: OdeModel, record: Sequence[str] | None, where: str) -> tuple[str, ...]:
    available = (*model.states, *model.outputs)
    if record is None:
        return available
    names = tuple(record)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ValidationError(
            "record names states or outputs of the model",
            path=f"{where}/record",
            expected=f"some of {list(available)}",
            got=list(names),
        )
    return names


class _InputSource:
    """The inputs at time ``t`` as arrays, defaults filled in; checked again only on a change."""

    def __init__(self, model: OdeModel, inputs: EnsembleInputs, m: int) -> None:
        self._model, self._m = model, m
        self._where = f"ode model {model.name!r}/inputs"
        self._function: Callable[[float], Mapping[str, Any]] | None = None
        self._constant: dict[str, Array] | None = None
        self._last: tuple[dict[str, Any], dict[str, Array]] | None = None
        if inputs is None or (isinstance(inputs, Mapping) and not callable(inputs)):
            self._constant = _columns(model, model.inputs, inputs or {}, m, self._where)
        elif isinstance(inputs, pd.DataFrame):
            self._function = input_function(inputs)
        elif callable(inputs):
            self._function = inputs
        else:
            raise ValidationError(
                "inputs must be a mapping, a function of time or a time-indexed frame",
                path=self._where,
                expected="Mapping[str, value], Callable[[float], Mapping] or DataFrame",
                got=type(inputs).__name__,
            )

    def at(self, t: float) -> dict[str, Array]:
        if self._constant is not None:
            return self._constant
        assert self._function is not None
        values = dict(self._function(t))
        if self._last is not None and _same_numbers(values, self._last[0]):
            return self._last[1]  # a held input: no need to check and copy it again
        columns = _columns(
            self._model, self._model.inputs, values, self._m, f"{self._where} at t={t:g}"
        )
        self._last = (values, columns)
        return columns


def _same_numbers(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    if new.keys() != old.keys():
        return False
    for name, value in new.items():
        if not isinstance(value, (int, float, np.floating)) or value != old[name]:
            return False
    return True


class _Run:
    """The state of one fixed-step integration: buffers, failure mask and recordings."""

    def __init__(
        self,
        model: OdeModel,
        *,
        p: Mapping[str, Array],
        inputs: _InputSource,
        names: tuple[str, ...],
        records: int,
        method: str,
    ) -> None:
        self.model, self.p, self.inputs, self.names = model, p, inputs, names
        self.field = VectorField(model)
        self.rk4 = method == "rk4"
        self.m = 0
        self.where = f"ode model {model.name!r}"
        self.failed: Mask = np.zeros(0, dtype=np.bool_)
        self.reasons: dict[int, str] = {}
        self.records = records
        self.recorded: dict[str, Array] = {}

    def advance(
        self,
        start: float,
        ends: Array,
        x: Array,
        marks: Sequence[int],
        progress: Callable[[float], None] | None,
    ) -> None:
        """Step from ``start`` through ``ends``, recording after each step index in ``marks``."""
        m = x.shape[1]
        self.m = m
        self.failed = np.zeros(m, dtype=np.bool_)
        self.recorded = {name: np.empty((self.records, m)) for name in self.names}
        work = [np.empty_like(x) for _ in range(5)]
        keep = set(marks)
        t, u, row = start, self.inputs.at(start), 0
        reported = time.monotonic()
        with np.errstate(all="ignore"):
            self._record(row, t, x, u)
            for index, end in enumerate(ends.tolist()):
                u = self.inputs.at(t)
                self._step(t, end - t, x, u, work)
                t = end
                if not self._check(t, x):
                    break  # every member failed: result() says so
                if index in keep:
                    row += 1
                    self._record(row, t, x, u)
                if progress is not None and time.monotonic() - reported >= _PROGRESS_EVERY:
                    progress((index + 1) / len(ends))
                    reported = time.monotonic()
        if progress is not None:
            progress(1.0)

    def _step(
        self, t: float, h: float, x: Array, u: Mapping[str, Array], work: list[Array]
    ) -> None:
        f, p = self._derivatives, self.p
        k1, k2, k3, k4, tmp = work
        f(t, x, p, u, k1)
        if not self.rk4:
            k1 *= h
            x += k1
            return
        np.multiply(k1, h / 2, out=tmp)
        tmp += x
        f(t + h / 2, tmp, p, u, k2)
        np.multiply(k2, h / 2, out=tmp)
        tmp += x
        f(t + h / 2, tmp, p, u, k3)
        np.multiply(k3, h, out=tmp)
        tmp += x
        f(t + h, tmp, p, u, k4)
        k2 += k3
        k2 *= 2.0
        k2 += k1
        k2 += k4
        k2 *= h / 6.0
        x += k2

    def _derivatives(
        self, t: float, x: Array, p: Mapping[str, Array], u: Mapping[str, Array], out: Array
    ) -> None:
        try:
            self.field.derivatives(t, x, p, u, out)
        except (ValidationError, SimulationError):
            raise
        except Exception as error:  # the model's own code failed: not one member's divergence
            raise SimulationError(
                f"{self.where}: rhs failed at t={t:g} s: {error!r}", where=self.where
            ) from error

    def _check(self, t: float, x: Array) -> bool:
        """Mark members whose state stopped being finite; whether any member is left."""
        finite = np.isfinite(x).all(axis=0)
        if finite.all():
            return True
        for member in np.flatnonzero(~finite & ~self.failed).tolist():
            bad = [
                n
                for n, v in zip(self.model.states, x[:, member], strict=True)
                if not np.isfinite(v)
            ]
            self.reasons[member] = f"diverged at t={t:g} s: state {', '.join(bad)} not finite"
        self.failed |= ~finite
        x[:, ~finite] = np.nan
        return not self.failed.all()

    def _record(self, row: int, t: float, x: Array, u: Mapping[str, Array]) -> None:
        try:
            values = self.field.outputs(t, x, self.p, u)
        except (ValidationError, SimulationError):
            raise
        except Exception as error:
            raise SimulationError(
                f"{self.where}: output failed at t={t:g} s: {error!r}", where=self.where
            ) from error
        for name in self.model.outputs:
            bad = ~np.isfinite(values[name]) & ~self.failed
            for member in np.flatnonzero(bad).tolist():
                self.reasons[member] = f"diverged at t={t:g} s: output {name} not finite"
            self.failed |= bad
        if self.failed.any():
            x[:, self.failed] = np.nan
        for name in self.names:
            column = values[name]
            column[self.failed] = np.nan
            self.recorded[name][row] = column

    def result(self, times: Array, samples: pd.DataFrame) -> EnsembleResult:
        n_failed = int(np.count_nonzero(self.failed))
        if n_failed == self.m:
            raise SimulationError(
                f"{self.where}: every one of {self.m} members failed; "
                f"first: {_first_reasons(self.reasons)}",
                where=self.where,
            )
        if n_failed:
            logger.warning(
                "%s: %d of %d members failed: %s",
                self.where,
                n_failed,
                self.m,
                _first_reasons(self.reasons),
            )
        return EnsembleResult(
            times=times,
            outputs={name: values.T for name, values in self.recorded.items()},
            samples=samples,
            failed=self.failed,
            reasons=dict(sorted(self.reasons.items())),
        )


def _first_reasons(reasons: Mapping[int, str]) -> str:
    shown = sorted(reasons.items())[:_REASONS_SHOWN]
    return "; ".join(f"member {member}: {reason}" for member, reason in shown)


def run_ensemble(
    model: OdeModel,
    n: int,
    uncertain: Mapping[str, Distribution],
    *,
    stop: float,
    dt: float,
    start: float = 0.0,
    parameters: Mapping[str, ArrayLike] | None = None,
    initial: Mapping[str, ArrayLike] | None = None,
    inputs: EnsembleInputs = None,
    sampling: Sampling = "lhs",
    seed: int | None = None,
    method: Literal["rk4", "euler"] = "rk4",
    record_every: int = 1,
    record: Sequence[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> EnsembleResult:
    """``n`` members with the ``uncertain`` parameters and initial states sampled, integrated.

    ``uncertain`` maps parameter or state names to distributions; ``parameters`` and
    ``initial`` fix others (a name may not be both). ``sampling`` is ``"lhs"`` (Latin
    hypercube) or ``"mc"``; the same ``seed`` gives the same members. The rest is
    :func:`integrate`'s.
    """
    _check_uncertain(model, uncertain, {**(parameters or {}), **(initial or {})})
    drawn = sample(uncertain, n, method=sampling, seed=seed)
    columns = {name: drawn[name].to_numpy() for name in drawn.columns}
    return integrate(
        model,
        stop=stop,
        dt=dt,
        start=start,
        parameters={
            **(parameters or {}),
            **{k: v for k, v in columns.items() if k in model.parameters},
        },
        initial={**(initial or {}), **{k: v for k, v in columns.items() if k in model.states}},
        inputs=inputs,
        members=n,
        method=method,
        record_every=record_every,
        record=record,
        progress=progress,
    )


def _check_uncertain(
    model: OdeModel, uncertain: Mapping[str, Distribution], fixed: Mapping[str, object]
) -> None:
    where = f"ode model {model.name!r}/uncertain"
    for name in uncertain:
        if name not in model.parameters and name not in model.states:
            raise ValidationError(
                f"uncertain {name!r} is not a parameter or state of the model",
                path=f"{where}/{name}",
                expected=f"one of {sorted((*model.parameters, *model.states))}",
                got=name,
            )
        if name in fixed:
            raise ValidationError(
                f"{name!r} is given both a fixed value and a distribution",
                path=f"{where}/{name}",
                expected="one or the other",
                got=name,
            )
