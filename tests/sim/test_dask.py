"""Ensembles on a real Dask cluster: the same result as in process, failures kept per member."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from ode_models import blow_up, inflow_schedule, tank

from twinkit.errors import SimulationError, ValidationError
from twinkit.sim._dask import run_ensemble_dask, run_members
from twinkit.sim._integrate import integrate
from twinkit.sim._ode import OdeSimulator

distributed = pytest.importorskip("distributed")  # the `scale` extra; installed in CI

TANK = functools.partial(OdeSimulator, tank(), rtol=1e-9, atol=1e-12)
SAMPLES = pd.DataFrame(
    {
        "cv": np.linspace(0.2, 0.4, 6),
        "area": np.linspace(1.5, 3.0, 6),
        "level": np.linspace(0.5, 1.5, 6),  # a state: seeds the member's initial level
    },
    index=pd.Index([f"m{i}" for i in range(6)], name="case"),
)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker LocalCluster on loopback, shared by this module's tests."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # not the default port 8787
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_dask_ensemble_equals_the_in_process_one(scheduler: str) -> None:
    seen: list[float] = []
    remote = run_ensemble_dask(
        TANK, SAMPLES, stop=120.0, dt=2.0, inputs=inflow_schedule, scheduler=scheduler,
        progress=seen.append,
    )  # fmt: skip
    local = run_members(TANK, SAMPLES, stop=120.0, dt=2.0, inputs=inflow_schedule)
    assert remote.n == 6 and remote.n_failed == 0
    np.testing.assert_array_equal(remote.times, local.times)
    for name in ("level", "outflow"):
        np.testing.assert_array_equal(remote.outputs[name], local.outputs[name])
    np.testing.assert_array_equal(remote.outputs["level"][:, 0], SAMPLES["level"])
    assert remote.samples["cv"].tolist() == SAMPLES["cv"].tolist()
    assert seen[-1] == 1.0 and len(seen) == 6
    vectorized = integrate(
        tank(),
        stop=120.0,
        dt=2.0,
        parameters={"cv": SAMPLES["cv"].to_numpy(), "area": SAMPLES["area"].to_numpy()},
        initial={"level": SAMPLES["level"].to_numpy()},
        inputs=inflow_schedule,
    )
    np.testing.assert_allclose(remote.outputs["level"], vectorized.outputs["level"], rtol=1e-4)


def test_a_diverging_member_is_reported_and_the_others_kept(scheduler: str) -> None:
    samples = pd.DataFrame({"k": [0.2, 3.0, 0.5, 0.8]})  # blows up at t = 1/k: only k=3 in 1 s
    result = run_ensemble_dask(
        functools.partial(OdeSimulator, blow_up(), method="RK45"),
        samples,
        stop=1.0,
        dt=0.1,
        scheduler=scheduler,
        batch_size=3,
    )
    assert result.failed.tolist() == [False, True, False, False]
    failures = result.failures()
    assert failures["k"].tolist() == [3.0]
    assert failures["reason"].iloc[0].startswith("SimulationError: ")
    assert "solver failed between t=0.3 s and t=0.4 s" in failures["reason"].iloc[0]
    assert np.isnan(result.outputs["x"][1]).all()
    assert result.outputs["x"][0, -1] == pytest.approx(1 / (1 - 0.2), rel=1e-5)
    band = result.band("x")
    assert np.all(np.isfinite(band.to_numpy()))


def test_when_every_member_fails_the_ensemble_fails(scheduler: str) -> None:
    with pytest.raises(SimulationError, match="every one of 2 members failed; first: member 0"):
        run_ensemble_dask(
            functools.partial(OdeSimulator, blow_up()),
            pd.DataFrame({"k": [2.0, 4.0]}),
            stop=1.0,
            dt=0.1,
            scheduler=scheduler,
        )


def test_bad_samples_are_validation_errors_before_any_work() -> None:
    with pytest.raises(ValidationError, match="'inflow' is not a parameter or state"):
        run_ensemble_dask(TANK, pd.DataFrame({"inflow": [0.1]}), stop=1.0, dt=1.0)
    with pytest.raises(ValidationError, match="samples must be finite") as caught:
        run_ensemble_dask(TANK, pd.DataFrame({"cv": [0.1, np.nan]}), stop=1.0, dt=1.0)
    assert caught.value.path == "samples/1/cv"
    with pytest.raises(ValidationError, match="one row per member"):
        run_ensemble_dask(TANK, pd.DataFrame({"cv": []}), stop=1.0, dt=1.0)
    with pytest.raises(ValidationError, match="batch_size"):
        run_ensemble_dask(TANK, SAMPLES, stop=1.0, dt=1.0, batch_size=0)
    with pytest.raises(ValidationError, match="stop > start and dt > 0"):
        run_ensemble_dask(TANK, SAMPLES, stop=1.0, dt=0.0)


def test_a_factory_that_cannot_be_pickled_is_a_validation_error(scheduler: str) -> None:
    lock = threading.Lock()

    def factory() -> OdeSimulator:
        with lock:  # a lock does not pickle: the factory cannot travel to a worker
            return OdeSimulator(tank())

    with pytest.raises(ValidationError, match="cannot be sent to the Dask workers"):
        run_ensemble_dask(factory, SAMPLES, stop=2.0, dt=1.0, scheduler=scheduler)


def test_an_unreachable_scheduler_is_a_simulation_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SimulationError, match="cannot reach the Dask scheduler"):
        run_ensemble_dask(
            TANK, SAMPLES, stop=1.0, dt=1.0, scheduler=f"tcp://127.0.0.1:{port}", timeout=1.0
        )


@pytest.mark.slow
def test_without_an_address_it_starts_and_stops_its_own_local_cluster() -> None:
    result = run_ensemble_dask(TANK, SAMPLES.iloc[:2], stop=10.0, dt=1.0, n_workers=1)
    local = run_members(TANK, SAMPLES.iloc[:2], stop=10.0, dt=1.0)
    np.testing.assert_array_equal(result.outputs["level"], local.outputs["level"])
