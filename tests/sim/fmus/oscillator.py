"""A damped spring-mass oscillator driven by a force: the pythonfmu co-simulation test FMU.

``m x'' + c x' + k x = F``, integrated in substeps no longer than ``max_step`` with classic
Runge-Kutta (or forward Euler: the Integer parameter ``order`` 1); while the Boolean input
``hold`` is true the mass is held where it is; the Integer output ``substeps`` counts the
substeps taken (so the FMU has variables of all three FMI 2.0 numeric types). It declares that it can get, set and serialize its state (pythonfmu keeps the
registered variables), and fails a step (fmi2Error) when |x| exceeds ``x_max``: a diverged run.
"""

from pythonfmu import (
    Boolean,
    Fmi2Causality,
    Fmi2Initial,
    Fmi2Slave,
    Fmi2Variability,
    Integer,
    Real,
)


class Oscillator(Fmi2Slave):
    author = "twinkit tests"
    description = "Damped spring-mass oscillator driven by a force"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.m = 1.0
        self.k = 4.0
        self.c = 0.4
        self.max_step = 0.01
        self.x_max = 1e6
        self.F = 0.0
        self.x = 1.0
        self.v = 0.0
        self.order = 4
        self.hold = False
        self.substeps = 0
        for name in ("m", "k", "c", "max_step", "x_max"):
            self.register_variable(
                Real(name, causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable)
            )
        self.register_variable(
            Integer("order", causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable)
        )
        self.register_variable(Real("F", causality=Fmi2Causality.input))
        self.register_variable(
            Boolean("hold", causality=Fmi2Causality.input, variability=Fmi2Variability.discrete)
        )
        self.register_variable(
            Integer(
                "substeps",
                causality=Fmi2Causality.output,
                variability=Fmi2Variability.discrete,
                initial=Fmi2Initial.exact,
            )
        )
        for name in ("x", "v"):
            self.register_variable(
                Real(name, causality=Fmi2Causality.output, initial=Fmi2Initial.exact)
            )

    def _rate(self, x, v):
        return v, (self.F - self.c * v - self.k * x) / self.m

    def do_step(self, current_time, step_size):
        count = max(1, int(-(-step_size // self.max_step)))
        h = step_size / count
        self.substeps += count
        if self.hold:
            self.v = 0.0
            return True
        x, v = self.x, self.v
        for _ in range(count):
            if self.order == 1:
                dx, dv = self._rate(x, v)
                x, v = x + h * dx, v + h * dv
                continue
            k1x, k1v = self._rate(x, v)
            k2x, k2v = self._rate(x + h / 2 * k1x, v + h / 2 * k1v)
            k3x, k3v = self._rate(x + h / 2 * k2x, v + h / 2 * k2v)
            k4x, k4v = self._rate(x + h * k3x, v + h * k3v)
            x += h / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
            v += h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        self.x, self.v = x, v
        return abs(x) <= self.x_max
