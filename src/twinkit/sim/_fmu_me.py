"""Model exchange between communication points, the way FMPy's ``simulate_fmu`` does it.

The integrator is FMPy's own (CVode from ``fmpy.sundials``, or ``ForwardEuler``), fed the FMU's
continuous states, derivatives and event indicators. Each ``advance`` integrates to the end of
the step, stopping at the next time event and at state events the solver locates, and runs the
event iteration there (``newDiscreteStates`` / ``updateDiscreteStates`` until the FMU needs no
more), then resets the solver, exactly as ``simulateME`` does. A change of inputs at the start
of a step is handled as an event too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from twinkit.errors import TwinkitError
from twinkit.sim._fmu_access import ErrorFactory, fmi_call

__all__ = ["Integrator"]


class _HeldInputs:
    """FMPy's solvers re-apply inputs while they search roots; ours are held over the step."""

    def apply(self, *args: Any, **kwargs: Any) -> None:
        return None


class Integrator:
    """The event loop and solver of one model-exchange FMU instance.

    Made right after ``exitInitializationMode``: it runs the initial event iteration and
    enters continuous-time mode. ``options`` carries solver, tolerance, max_step and
    max_solver_steps.
    """

    def __init__(self, fmu: Any, model: Any, options: Any, t0: float, error: ErrorFactory) -> None:
        self._fmu = fmu
        self._v2 = model.fmi_version == 2
        self._needs_completed = bool(model.description.modelExchange.needsCompletedIntegratorStep)
        self._nx = int(model.description.numberOfContinuousStates)
        self._nz = int(model.description.numberOfEventIndicators)
        self._options = options
        self._error = error
        self.next_event: float | None = None
        self._event_iteration(t0, enter=False)
        self._solver: Any = self._make_solver(t0)

    def _make_solver(self, t0: float) -> Any:
        fmu = self._fmu
        args = {
            "nx": self._nx,
            "nz": self._nz,
            "get_x": fmu.getContinuousStates,
            "set_x": fmu.setContinuousStates,
            "get_dx": fmu.getDerivatives if self._v2 else fmu.getContinuousStateDerivatives,
            "get_z": fmu.getEventIndicators,
            "input": _HeldInputs(),
        }
        with fmi_call(self._error, f"starting the {self._options.solver} solver", t0):
            if self._options.solver == "Euler":
                from fmpy.simulation import ForwardEuler

                return ForwardEuler(**args)
            from fmpy.sundials import CVodeSolver

            tolerance = self._options.tolerance
            return CVodeSolver(
                get_nominals=fmu.getNominalsOfContinuousStates,
                set_time=fmu.setTime,
                startTime=t0,
                maxStep=self._options.max_step,
                relativeTolerance=1e-5 if tolerance is None else tolerance,
                maxNumSteps=self._options.max_solver_steps,
                **args,
            )

    def advance(self, time: float, end: float, set_inputs: Callable[[], None] | None) -> float:
        """Integrate from ``time`` to ``end`` (inputs set first, as an event); the time reached."""
        if set_inputs is not None:
            self._event_iteration(time, enter=True, set_inputs=set_inputs)
            self._solver.reset(time)
        fmu, solver, isclose = self._fmu, self._solver, math.isclose
        try:
            while not (time > end or isclose(time, end)):
                target = end
                upcoming = self.next_event
                if upcoming is not None and target > upcoming and not isclose(target, upcoming):
                    target = upcoming
                time_event = upcoming is not None and isclose(target, upcoming)
                state_event, _, time = solver.step(time, target)
                fmu.setTime(time)
                step_event = False
                if self._needs_completed:
                    step_event, terminate = fmu.completedIntegratorStep()
                    if terminate:
                        raise self._error(f"the FMU ended the simulation at t={time:g} s", None)
                if time_event or state_event or step_event:
                    self._event_iteration(time, enter=True)
                    solver.reset(time)
        except TwinkitError:
            raise
        except Exception as error:
            raise self._error(
                f"integrating to t={end:g} s failed at t={time:g} s: {error}", None
            ) from error
        return time

    def _event_iteration(
        self, time: float, *, enter: bool, set_inputs: Callable[[], None] | None = None
    ) -> None:
        fmu = self._fmu
        with fmi_call(self._error, "the event iteration", time):
            if enter:
                fmu.enterEventMode()
            if set_inputs is not None:
                set_inputs()
            update = fmu.newDiscreteStates if self._v2 else fmu.updateDiscreteStates
            needed, terminate, defined, upcoming = True, False, False, 0.0
            while needed and not terminate:
                needed, terminate, _, _, defined, upcoming = update()
            if terminate:
                raise self._error(f"the FMU ended the simulation at an event at t={time:g} s", None)
            fmu.enterContinuousTimeMode()
        self.next_event = float(upcoming) if defined else None

    def restart(self, time: float, next_event: float | None) -> None:
        """After the FMU state was set: continue from its states at ``time``."""
        self.next_event = next_event
        self._solver = self._make_solver(time)

    def close(self) -> None:
        """Free the solver (CVode's memory) before the FMU instance goes."""
        self._solver = None
