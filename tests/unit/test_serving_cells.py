"""A scenario cell in this process: the session serves runs, the models take turns, failures become reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.measure.loadgen import LoadRun, LoadSpec
from harness.measure.paired import InProcess
from harness.measure.serving import (
    CAPACITY_METRICS,
    OFFLINE_METRICS,
    RATE_METRICS,
    measure_scenario,
    scenario_results,
    serve_players,
)
from harness.measure.session import CellRequest, Session
from harness.rows import Status
from tests.unit.test_paired import FAST, Busy


def request(load: LoadSpec) -> CellRequest:
    return CellRequest((2,), (load.max_batch,), "cpu", 1, FAST, load=load)


class Broken(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this model cannot run")


SERVER = LoadSpec("server", max_batch=2, qps=(2000.0,), duration_seconds=0.25, batch_timeout_ms=0.5,
                  slo_p99_ms=50.0, search=False)


def test_a_session_serves_a_run_at_each_batch_size_up_to_max_batch():
    """Every query is served once, in batches of at most max_batch, the session sliced from one input."""
    with Session(Busy(100), request(SERVER)) as session:
        outcome = session.load(LoadRun(np.zeros(9), max_batch=2))
    assert outcome.batches == [2, 2, 2, 2, 1]
    assert outcome.served == 9 and not np.isnan(outcome.latency_ms).any()
    assert outcome.busy_seconds >= 5 * 100e-6  # Busy(100): 100 us a forward, five batches


def test_models_take_turns_at_each_rate_and_every_result_has_its_metrics():
    players = [InProcess("teacher", Busy(50), request(SERVER)), InProcess("student", Busy(10), request(SERVER))]
    group = serve_players(players, request(SERVER), "teacher")
    for label in ("teacher", "student"):
        _, results = group.results[label]
        rate, capacity = results
        assert rate.target_qps == 2000.0 and rate.metrics == RATE_METRICS and rate.status == Status.OK
        assert set(rate.values) == set(RATE_METRICS)
        assert rate.values["dropped_share"][0] == 0.0
        assert 1.0 <= rate.values["mean_batch_size"][0] <= 2.0
        assert rate.values["achieved_qps"][0] == pytest.approx(2000.0, rel=0.05)
        assert capacity.metrics == CAPACITY_METRICS and capacity.target_qps is None
        assert capacity.absent["max_qps_at_slo"] == (Status.SKIPPED, "the capacity search is off (search: false)")
    assert {entry["model"] for entry in group.loadgen} == {"teacher", "student"}
    assert all(entry["sleeps"] > 0 for entry in group.loadgen)


def test_offline_serves_every_query_in_full_batches():
    offline = LoadSpec("offline", max_batch=4, queries=10)
    group = serve_players([InProcess("model", Busy(20), request(offline))], request(offline), None)
    (result,) = group.results["model"][1]
    assert result.metrics == OFFLINE_METRICS and result.status == Status.OK
    seconds, throughput = result.values["offline_seconds"][0], result.values["throughput_sps"][0]
    assert seconds >= 3 * 20e-6 and throughput == pytest.approx(10 / seconds)
    assert result.values["throughput_sps"][3] == 5  # the median of 5 paired rounds
    assert group.loadgen == []  # offline sleeps only before its queries: no lateness to report


def test_a_model_that_cannot_run_has_every_scenario_result_failed_with_the_reason():
    players = [InProcess("teacher", Busy(10), request(SERVER)), InProcess("broken", Broken(), request(SERVER))]
    group = serve_players(players, request(SERVER), "teacher")
    _, results = group.results["broken"]
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR]
    assert all("this model cannot run" in r.error for r in results)
    _, teacher = group.results["teacher"]
    assert teacher[0].status == Status.OK


def test_scenario_results_name_each_rate_and_the_capacity():
    spec = LoadSpec("server", max_batch=4, qps=(10.0, 20.0), slo_p99_ms=5.0)
    results = scenario_results(spec, Status.SKIPPED, "no GPU")
    assert [(r.batch_size, r.target_qps, r.metrics) for r in results] == [
        (4, 10.0, RATE_METRICS), (4, 20.0, RATE_METRICS), (4, None, CAPACITY_METRICS)]
    assert {(r.status, r.error) for r in results} == {(Status.SKIPPED, "no GPU")}


def test_the_capacity_ratio_takes_its_interval_from_both_brackets():
    from harness.measure.serving import CapacitySearch, Served, _capacity_ratios

    teacher, student = CapacitySearch(100.0), CapacitySearch(100.0)
    teacher.low, teacher.high, student.low, student.high = 100.0, 110.0, 300.0, 320.0
    served = {label: Served(scenario_results(SERVER)) for label in ("t", "s")}
    _capacity_ratios(served, {"t": teacher, "s": student}, "t")
    value, low, high, _ = served["s"].results[-1].values["capacity_vs_teacher"]
    assert (value, low, high) == (3.0, 300.0 / 110.0, 3.2)
    value, low, high, _ = served["t"].results[-1].values["capacity_vs_teacher"]
    assert value == 1.0 and math.isclose(low, 100 / 110) and math.isclose(high, 1.1)


def test_measure_scenario_refuses_nothing_a_closed_loop_cell_would_take():
    """The closed-loop cell (no load) is not this module's: serve_players says so rather than guessing."""
    with pytest.raises(AssertionError):
        serve_players([], CellRequest((2,), (1,), "cpu", 1, FAST), None)
    assert measure_scenario([], SERVER, None, {}).results == {}
