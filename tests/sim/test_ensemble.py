"""Vectorized ensembles: as accurate as per-member solves, failures reported, bands reproducible."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from ode_models import blow_up, decay, inflow_schedule, oscillator, tank
from scipy import stats

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim import Causality, Variable, simulate
from twinkit.sim._integrate import integrate, run_ensemble
from twinkit.sim._ode import OdeModel, OdeSimulator
from twinkit.sim._uncertain import (
    LogNormal,
    Normal,
    Triangular,
    TruncatedNormal,
    Uniform,
    sample,
    unit_points,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

Values = Mapping[str, np.ndarray]

UNCERTAIN = {"cv": LogNormal(median=0.3, sigma=0.15), "area": Uniform(1.5, 2.5)}


def test_rk4_ensemble_equals_per_member_adaptive_solves() -> None:
    cv, area = np.linspace(0.2, 0.4, 7), np.linspace(1.5, 3.0, 7)
    result = integrate(
        tank(), stop=240.0, dt=1.0, parameters={"cv": cv, "area": area}, inputs=inflow_schedule
    )
    assert result.outputs["level"].shape == (7, 241)
    assert result.n_failed == 0
    for member in range(7):
        single = simulate(
            OdeSimulator(tank(), rtol=1e-10, atol=1e-12),
            stop=240.0,
            dt=1.0,
            parameters={"cv": float(cv[member]), "area": float(area[member])},
            inputs=inflow_schedule,
        )
        np.testing.assert_array_equal(result.times, single.times)
        for name in ("level", "outflow"):
            np.testing.assert_allclose(
                result.outputs[name][member], single.outputs[name], rtol=1e-5
            )


@pytest.mark.parametrize(("method", "order"), [("rk4", 4), ("euler", 1)])
def test_fixed_step_methods_converge_at_their_order(method: str, order: int) -> None:
    omega = np.array([1.0, 2.0, 3.0])
    errors = []
    for dt in (0.02, 0.01):
        result = integrate(
            oscillator(),
            stop=2.0,
            dt=dt,
            parameters={"omega": omega},
            method=method,  # type: ignore[arg-type]
        )
        exact = np.cos(np.outer(omega, result.times))
        errors.append(np.max(np.abs(result.outputs["x"] - exact)))
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.15)


def test_rk4_matches_the_analytic_oscillator_and_decay() -> None:
    result = integrate(oscillator(), stop=10.0, dt=0.01, parameters={"omega": [0.5, 2.0]})
    exact = np.cos(np.outer([0.5, 2.0], result.times))
    np.testing.assert_allclose(result.outputs["x"], exact, atol=1e-7)
    energy = np.broadcast_to([[0.125], [2.0]], result.outputs["energy"].shape)
    np.testing.assert_allclose(result.outputs["energy"], energy, rtol=1e-8)
    k = np.array([0.1, 1.0, 3.0])
    result = integrate(decay(), stop=5.0, dt=0.01, parameters={"k": k}, initial={"x": 2.0})
    np.testing.assert_allclose(
        result.outputs["x"], 2.0 * np.exp(-np.outer(k, result.times)), rtol=1e-6
    )


def test_diverging_members_are_masked_counted_and_left_out_of_the_bands() -> None:
    k = np.array([0.2, 0.5, 2.0, 0.8, 4.0])  # x = 1/(1 - k t) blows up at t = 1/k < 1 s for 2 and 4
    result = integrate(blow_up(), stop=1.0, dt=0.01, parameters={"k": k})
    assert result.failed.tolist() == [False, False, True, False, True]
    assert result.n_failed == 2
    assert set(result.reasons) == {2, 4}
    assert result.reasons[2].startswith("diverged at t=0.5")
    failures = result.failures()
    assert failures["k"].tolist() == [2.0, 4.0]
    assert failures["reason"].str.contains("state x not finite").all()
    x = result.outputs["x"]
    assert np.isnan(x[2, -1]) and np.isnan(x[4, -1])
    assert np.all(np.isfinite(x[[0, 1, 3]]))
    assert x[2, 10] == pytest.approx(1 / (1 - 2.0 * 0.1), rel=1e-6)  # fine before it diverged
    band = result.band("x", (0, 50, 100))
    healthy = x[[0, 1, 3]]
    np.testing.assert_allclose(band["p0"], healthy.min(axis=0))
    np.testing.assert_allclose(band["p100"], healthy.max(axis=0))
    assert np.all(np.isfinite(band.to_numpy()))


def test_an_ensemble_where_every_member_diverges_raises() -> None:
    with pytest.raises(SimulationError, match="every one of 3 members failed"):
        integrate(blow_up(), stop=2.0, dt=0.01, parameters={"k": [1.0, 2.0, 3.0]})


def test_a_non_finite_output_fails_its_member() -> None:
    def rhs(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
        return {"x": -p["rate"] + 0.0 * x["x"]}

    def output(t: float, x: Values, p: Values, u: Values) -> dict[str, Any]:
        return {"root": np.sqrt(x["x"])}  # NaN once x < 0, while the state stays finite

    model = OdeModel(
        "draining",
        [
            Variable("x", Causality.STATE, start=1.0),
            Variable("rate", Causality.PARAMETER, start=1.0),
            Variable("root", Causality.OUTPUT),
        ],
        rhs,
        output,
    )
    result = integrate(model, stop=1.0, dt=0.1, parameters={"rate": [0.5, 2.0, 0.9]})
    assert result.failed.tolist() == [False, True, False]
    assert result.reasons == {1: "diverged at t=0.6 s: output root not finite"}
    assert np.isnan(result.outputs["x"][1, 6:]).all()  # the whole member, from then on
    assert np.isfinite(result.outputs["x"][1, :6]).all()


def test_bands_are_monotone_and_named_by_percentile() -> None:
    result = run_ensemble(
        tank(), 400, UNCERTAIN, stop=300.0, dt=1.0, record_every=10, inputs=inflow_schedule, seed=3
    )
    bands = result.bands()
    assert set(bands) == {"level", "outflow"}
    for band in bands.values():
        assert list(band.columns) == ["p5", "p50", "p95"]
        assert band.index.name == "time"
        assert np.all(band["p5"] <= band["p50"]) and np.all(band["p50"] <= band["p95"])
    level = bands["level"]
    assert level["p95"].iloc[-1] > level["p5"].iloc[-1]  # the uncertainty shows
    assert result.band("level", (10, 90)).columns.tolist() == ["p10", "p90"]


def test_the_same_seed_gives_the_same_ensemble() -> None:
    def run(seed: int) -> object:
        return run_ensemble(tank(), 50, UNCERTAIN, stop=60.0, dt=1.0, seed=seed)

    first, again, other = run(11), run(11), run(12)
    pd.testing.assert_frame_equal(first.samples, again.samples)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(first.outputs["level"], again.outputs["level"])  # type: ignore[attr-defined]
    assert not np.array_equal(first.samples["cv"], other.samples["cv"])  # type: ignore[attr-defined]


def test_uncertain_initial_states_and_fixed_values() -> None:
    result = run_ensemble(
        tank(),
        20,
        {"level": Uniform(0.5, 1.5)},
        parameters={"cv": 0.25},
        stop=10.0,
        dt=1.0,
        inputs={"inflow": np.linspace(0.1, 0.3, 20)},
        sampling="mc",
        seed=1,
    )
    np.testing.assert_array_equal(result.outputs["level"][:, 0], result.samples["level"])
    assert (result.samples["cv"] == 0.25).all()
    assert (result.samples["area"] == 2.0).all()  # the start of an unset parameter


def test_record_every_keeps_start_every_kth_step_and_stop() -> None:
    result = integrate(decay(), stop=10.5, dt=1.0, record_every=4, record=["x"])
    assert result.times.tolist() == [0.0, 4.0, 8.0, 10.5]
    assert list(result.outputs) == ["x"]
    every = integrate(decay(), stop=10.5, dt=1.0)
    assert every.times[[0, 4, 8, 11]].tolist() == result.times.tolist()
    np.testing.assert_array_equal(result.outputs["x"], every.outputs["x"][:, [0, 4, 8, 11]])


def test_frame_inputs_and_function_inputs_agree() -> None:
    frame = pd.DataFrame({"inflow": [0.15, 0.35, 0.15]}, index=[0.0, 60.0, 150.0])
    by_frame = integrate(tank(), stop=200.0, dt=2.0, inputs=frame)
    by_function = integrate(tank(), stop=200.0, dt=2.0, inputs=inflow_schedule)
    np.testing.assert_array_equal(by_frame.outputs["level"], by_function.outputs["level"])


def test_progress_reaches_one() -> None:
    seen: list[float] = []
    integrate(decay(), stop=100.0, dt=0.1, members=10, progress=seen.append)
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_frame_holds_every_member_trajectory() -> None:
    result = integrate(decay(), stop=2.0, dt=1.0, parameters={"k": [0.0, 1.0]})
    frame = result.frame()
    assert frame.shape == (3, 2)
    assert frame.columns.names == ["output", "member"]
    assert frame[("x", 0)].tolist() == [1.0, 1.0, 1.0]
    assert frame[("x", 1)].tolist() == result.outputs["x"][1].tolist()
    assert frame[("x", 1)].iloc[-1] == pytest.approx(math.exp(-2.0), rel=0.05)  # RK4, dt = 1/k


def test_plot_draws_the_band() -> None:
    result = run_ensemble(tank(), 30, UNCERTAIN, stop=60.0, dt=1.0, seed=2)
    ax = result.plot("level")
    assert len(ax.collections) == 1  # the shaded p5..p95 band
    assert len(ax.lines) == 1  # the median
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.band("level")["p50"])
    with pytest.raises(ValidationError, match="no output 'volume'"):
        result.plot("volume", ax=ax)
    plt.close(ax.figure)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters": {"diameter": 1.0}}, "unknown name 'diameter'"),
        (
            {"parameters": {"cv": [0.1, 0.2], "area": [1.0, 2.0, 3.0]}},
            "disagree on the member count",
        ),
        ({"parameters": {"cv": [[0.1]]}}, "too many dimensions"),
        ({"parameters": {"cv": math.nan}}, "values must be finite"),
        ({"initial": {"level": "high"}}, "not a number"),
        ({"record_every": 0}, "record_every"),
        ({"record": ["inflow"]}, "record names states or outputs"),
        ({"method": "rk45"}, "unknown fixed-step method"),
        ({"inputs": 3.0}, "inputs must be a mapping"),
        ({"inputs": lambda t: {"inflow": math.inf}}, "values must be finite"),
        ({"dt": 0.0}, "stop > start and dt > 0"),
        ({"members": 0}, "members must be >= 1"),
    ],
)
def test_bad_requests_are_validation_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"stop": 10.0, "dt": 1.0, **kwargs}
    with pytest.raises(ValidationError, match=message):
        integrate(tank(), **arguments)  # type: ignore[arg-type]


def test_bad_ensemble_requests_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="not a parameter or state"):
        run_ensemble(tank(), 10, {"inflow": Uniform(0, 1)}, stop=1.0, dt=1.0)
    with pytest.raises(ValidationError, match="both a fixed value and a distribution"):
        run_ensemble(tank(), 10, {"cv": Uniform(0, 1)}, parameters={"cv": 0.2}, stop=1.0, dt=1.0)
    with pytest.raises(ValidationError, match="has no distribution"):
        run_ensemble(tank(), 10, {"cv": 0.3}, stop=1.0, dt=1.0)  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="at least one member"):
        run_ensemble(tank(), 0, UNCERTAIN, stop=1.0, dt=1.0)
    with pytest.raises(ValidationError, match="unknown sampling method"):
        run_ensemble(tank(), 10, UNCERTAIN, stop=1.0, dt=1.0, sampling="sobol")  # type: ignore[arg-type]


# --- distributions and sampling --------------------------------------------------------------


def test_latin_hypercube_puts_one_point_in_every_stratum() -> None:
    points = unit_points(100, 3, method="lhs", seed=5)
    for column in points.T:
        assert np.sort(np.floor(column * 100)).tolist() == list(range(100))
    assert np.all((points > 0) & (points < 1))


def test_distributions_match_scipy_quantiles() -> None:
    q = np.array([0.01, 0.2, 0.5, 0.8, 0.99])
    pairs = [
        (Normal(3.0, 0.5), stats.norm(3.0, 0.5)),
        (LogNormal(0.3, 0.2), stats.lognorm(0.2, scale=0.3)),
        (Uniform(-1.0, 4.0), stats.uniform(-1.0, 5.0)),
        (Triangular(1.0, 1.5, 4.0), stats.triang(0.5 / 3.0, loc=1.0, scale=3.0)),
        (TruncatedNormal(1.0, 2.0, 0.0, 2.0), stats.truncnorm(-0.5, 0.5, loc=1.0, scale=2.0)),
    ]
    for ours, reference in pairs:
        np.testing.assert_allclose(ours.ppf(q), reference.ppf(q), rtol=1e-10, err_msg=repr(ours))


def test_samples_follow_their_distributions() -> None:
    frame = sample(
        {"a": TruncatedNormal(0.0, 1.0, low=-0.5), "b": Triangular(0.0, 0.2, 1.0)}, 2000, seed=4
    )
    assert frame.shape == (2000, 2)
    assert frame["a"].min() >= -0.5
    assert frame["b"].between(0.0, 1.0).all()
    assert frame["b"].mean() == pytest.approx(0.4, abs=0.01)  # (low + mode + high) / 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: Normal(0.0, 0.0),
        lambda: Normal(math.nan, 1.0),
        lambda: LogNormal(-1.0, 0.1),
        lambda: LogNormal(1.0, 0.0),
        lambda: Uniform(2.0, 1.0),
        lambda: Uniform(1.0, 1.0),
        lambda: Triangular(0.0, 2.0, 1.0),
        lambda: TruncatedNormal(0.0, 1.0, 1.0, -1.0),
        lambda: TruncatedNormal(0.0, 1.0, low=50.0),
        lambda: TruncatedNormal(0.0, 1.0, low=math.nan),
        lambda: Normal("1", 1.0),
    ],
)
def test_bad_distributions_are_validation_errors(make: object) -> None:
    with pytest.raises(ValidationError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.expected is not None
