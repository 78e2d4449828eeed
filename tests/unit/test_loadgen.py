"""The server loop's semantics, the capacity search and a rate's row values, on exact numbers.

:func:`~harness.measure.loadgen.serve_queries` is run on a virtual clock
(``Clock`` stands in for the ``time`` module of loadgen): a sleep advances it
by exactly the time asked (or by a fixed amount more: a machine that wakes
late), a forward by its model's service time, and every time is a dyadic
fraction of a second, so each latency below is exact, not approximate, and
no test depends on how busy the machine is. One test runs on the real clock,
with bounds that only a stall of the machine for half a second could break.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pytest

from harness.measure import loadgen
from harness.measure.batch import BatchResult
from harness.measure.loadgen import LoadOutcome, LoadRun, LoadSpec, serve_queries
from harness.measure.serving import CapacitySearch, p99, put_rate, rate_run, within_slo


class Clock:
    """``perf_counter`` reads virtual seconds; ``sleep(s)`` advances them by ``s + oversleep``."""

    def __init__(self, oversleep: float = 0.0):
        self.now, self.oversleep, self.reads = 0.0, oversleep, 0
        self.slept: list[float] = []

    def perf_counter(self) -> float:
        self.reads += 1
        if self.reads > 100_000:
            raise RuntimeError("the server loop reads the clock without end")
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds + self.oversleep


Seconds = float | Callable[[int], float]


class Model:
    """A forward that takes ``seconds(k)`` of the clock's time per batch of ``k``; records each batch's size
    and when it began."""

    def __init__(self, clock: Clock, seconds: Seconds):
        self.clock = clock
        self.seconds = seconds if callable(seconds) else (lambda k: seconds)
        self.batches: list[int] = []
        self.began: list[float] = []

    def __call__(self, k: int) -> None:
        self.batches.append(k)
        self.began.append(self.clock.now)
        self.clock.now += self.seconds(k)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(loadgen, "time", clock)
    return clock


def serve(clock: Clock, seconds: Seconds, arrivals: list[float], **run) -> tuple[LoadOutcome, Model]:
    """Serve ``arrivals`` (s) on the virtual clock, the run starting at 0 (no lead)."""
    model = Model(clock, seconds)
    return serve_queries(model, LoadRun(np.array(arrivals), **run), lead_seconds=0.0), model


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000.0 for s in seconds]


# --- serve_queries ------------------------------------------------------------------------------------------


def test_one_at_a_time_first_come_first_served(clock: Clock):
    """max_batch 1, a 1/4 s forward, four queries 1/16 s apart: each starts when the previous ends (no idle
    time with a query queued), in arrival order; query i completes at (i + 1) / 4."""
    out, model = serve(clock, 0.25, [0.0, 1 / 16, 1 / 8, 3 / 16])
    assert model.batches == out.batches == [1, 1, 1, 1]
    assert model.began == [0.0, 0.25, 0.5, 0.75]
    assert out.latency_ms.tolist() == ms([0.25, 0.5 - 1 / 16, 0.75 - 1 / 8, 1.0 - 3 / 16])
    assert (out.busy_seconds, out.span_seconds, out.served, out.aborted) == (1.0, 1.0, 4, False)
    assert len(out.lateness_ms) == 0  # never idle: never slept


def test_an_idle_server_sleeps_until_the_next_arrival(clock: Clock):
    out, model = serve(clock, 0.25, [0.5, 1.0, 2.0])
    assert model.began == [0.5, 1.0, 2.0] and out.latency_ms.tolist() == [250.0] * 3
    assert clock.slept == [0.5, 0.25, 0.75] and out.lateness_ms.tolist() == [0.0] * 3
    assert (out.busy_seconds, out.span_seconds) == (0.75, 2.25)


def test_offline_is_served_in_batches_of_max_batch(clock: Clock):
    """Ten queries at time 0, max_batch 4: batches of 4, 4 and the rest; each query completes with its batch."""
    out, model = serve(clock, lambda k: k / 64, [0.0] * 10, max_batch=4)
    assert out.batches == [4, 4, 2]
    assert out.latency_ms.tolist() == ms([4 / 64] * 4 + [8 / 64] * 4 + [10 / 64] * 2)
    assert out.span_seconds == 10 / 64


def test_a_batch_waits_for_the_timeout_then_serves_what_is_queued(clock: Clock):
    """max_batch 4, timeout 1/8 s. Queries 0-1 (at 0 and 1/32) never fill a batch: it waits until 1/8 (the
    oldest's arrival plus the timeout) and serves 2. Queries 2-5 (from 1/2) fill one at 19/32, before their
    timeout (5/8): it is served at once, 4 queries."""
    arrivals = [0.0, 1 / 32, 1 / 2, 17 / 32, 9 / 16, 19 / 32]
    out, model = serve(clock, 1 / 64, arrivals, max_batch=4, timeout_seconds=1 / 8)
    assert out.batches == [2, 4] and model.began == [1 / 8, 19 / 32]
    done = [1 / 8 + 1 / 64] * 2 + [19 / 32 + 1 / 64] * 4
    assert out.latency_ms.tolist() == ms([d - a for d, a in zip(done, arrivals, strict=True)])
    assert clock.slept == [1 / 8, 1 / 2 - (1 / 8 + 1 / 64), 19 / 32 - 1 / 2]


def test_the_timeout_counts_from_the_oldest_arrival_not_from_when_the_server_is_free(clock: Clock):
    """Query 2 arrives at 3/8 while the first batch (1/16 to 9/16) runs; when it ends, query 2's 1/8 s timeout
    has run out (at 1/2): it is served at once, alone (waiting another 1/8 s for a partner would time the
    timeout from the server's side)."""
    out, model = serve(clock, 0.5, [0.0, 1 / 16, 3 / 8], max_batch=2, timeout_seconds=1 / 8)
    assert out.batches == [2, 1] and model.began == [1 / 16, 9 / 16]
    assert out.latency_ms.tolist() == ms([9 / 16, 9 / 16 - 1 / 16, 9 / 16 + 1 / 2 - 3 / 8])


def test_a_latency_counts_from_the_scheduled_arrival_while_the_server_is_busy(clock: Clock):
    """A 1/16 s forward (62.5 ms) delays the queries that arrive during it: their latencies include the wait
    (the load generator does not wait for the server before it counts a query: no coordinated omission)."""
    out, _ = serve(clock, 1 / 16, [0.0, 1 / 64, 1 / 32])
    assert out.latency_ms.tolist() == [62.5, 125.0 - 15.625, 187.5 - 31.25]


def test_a_late_wake_up_is_recorded_and_counted_in_the_latency(monkeypatch: pytest.MonkeyPatch):
    """A machine that wakes 1/1024 s (0.977 ms) late from every sleep: each sleep's lateness is recorded, and
    each query that waited on it is that much later."""
    clock = Clock(oversleep=1 / 1024)
    monkeypatch.setattr(loadgen, "time", clock)
    out, model = serve(clock, 1 / 16, [1 / 4, 1 / 2])
    assert model.began == [1 / 4 + 1 / 1024, 1 / 2 + 1 / 1024]
    assert out.lateness_ms.tolist() == [1000 / 1024] * 2
    assert out.latency_ms.tolist() == [62.5 + 1000 / 1024] * 2


def test_on_the_real_clock_a_busy_server_delays_the_queries_behind_it():
    """The same semantics on time.perf_counter: a 50 ms forward and queries 10 ms apart. The lower bounds are
    exact (a machine can only add delay); the upper ones leave half a second for a stalled machine."""
    def forward(k: int) -> None:
        time.sleep(0.05)

    out = serve_queries(forward, LoadRun(np.array([0.0, 0.01, 0.02])))
    least = np.array([50.0, 100.0 - 10.0, 150.0 - 20.0])
    assert out.batches == [1, 1, 1]
    assert np.all(out.latency_ms >= least) and np.all(out.latency_ms < least + 500.0), out.latency_ms


def test_queries_still_queued_when_the_drain_runs_out_are_dropped(clock: Clock):
    """drain 1/2 s after the last arrival (at 1): the run gives up at 3/2. The batch that began before (at
    3/4) finishes, at 3/2; query 2, queued behind it since 1, is dropped (NaN). The span ends at the last
    completion."""
    out, model = serve(clock, 0.75, [0.0, 0.5, 1.0], drain_seconds=0.5)
    assert model.batches == [1, 1] and out.served == 2
    assert out.latency_ms[:2].tolist() == [750.0, 1000.0] and np.isnan(out.latency_ms[2])
    assert (out.span_seconds, out.aborted) == (1.5, False)


def test_a_query_waiting_for_its_batch_to_fill_is_dropped_at_the_drain(clock: Clock):
    """The wait for a batch ends at the give-up time at the latest; what is still queued then is dropped."""
    out, model = serve(clock, 1 / 64, [0.0], max_batch=4, timeout_seconds=2.0, drain_seconds=0.5)
    assert model.batches == [] and np.isnan(out.latency_ms).all() and clock.slept == [0.5]
    assert (out.served, out.span_seconds) == (0, 0.0)


def test_abort_after_late_counts_the_queued_queries_already_past_the_slo(clock: Clock):
    """SLO 125 ms, give up at 2 late queries, a 1/4 s forward, a query every 1/16 s. When query 0 completes
    (at 1/4, late) queries 1 and 2 have waited 1/8 s or more: 3 late, the run stops after one batch."""
    out, model = serve(clock, 0.25, [k / 16 for k in range(8)], slo_ms=125.0, abort_after_late=2)
    assert out.aborted and model.batches == [1]
    assert out.latency_ms[0] == 250.0 and np.isnan(out.latency_ms[1:]).all()


def test_abort_after_late_stops_at_the_nth_late_completion(clock: Clock):
    """No queueing (a query every 1/4 s, 3/16 s forwards), each one late against a 125 ms SLO: the run stops
    when the third completes; without abort_after_late it serves all eight."""
    arrivals = [k / 4 for k in range(8)]
    out, _ = serve(clock, 3 / 16, arrivals, slo_ms=125.0, abort_after_late=3)
    assert out.aborted and out.batches == [1, 1, 1]
    assert out.latency_ms[:3].tolist() == [187.5] * 3 and np.isnan(out.latency_ms[3:]).all()
    whole, _ = serve(clock, 3 / 16, arrivals, slo_ms=125.0)
    assert not whole.aborted and whole.latency_ms.tolist() == [187.5] * 8


# --- CapacitySearch -----------------------------------------------------------------------------------------


def drive(search: CapacitySearch, passes: Callable[[float], bool]) -> list[float]:
    """Run the search to its end against a pass function; the rates in the order tried."""
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(rate, passes(rate))
    return rates


def test_capacity_ladder_bisection_and_a_confirming_repeat():
    """Up by doubling until a miss (400), geometric bisection of [200, 400] until the ends are within 10%,
    then the highest pass once more."""
    search = CapacitySearch(100.0, tolerance=0.1)
    rates = drive(search, lambda r: r <= 333.0)
    m1 = math.sqrt(200.0 * 400.0)  # 282.8: pass
    m2 = math.sqrt(m1 * 400.0)  # 336.4: miss
    m3 = math.sqrt(m1 * m2)  # 308.4: pass; 336.4 / 308.4 = 1.09 <= 1.1: bracketed
    assert rates == [100.0, 200.0, 400.0, m1, m2, m3, m3]
    assert (search.low, search.high, search.confirmed, search.runs, search.stopped) == (m3, m2, True, 7, "")
    result = BatchResult(1)
    search.put(result)
    assert result.values["max_qps_at_slo"] == (m3, m3, m2, 7)


def test_a_missed_repeat_becomes_the_upper_end_and_the_search_goes_on_below():
    """The same machine, but the repeat at 308.4 misses (a slow phase): 308.4 becomes the upper end, the pass
    below it (282.8) the lower, already within 10%, so 282.8 is repeated, and confirmed."""
    count = iter(range(1, 100))

    def passes(rate: float) -> bool:
        return next(count) != 7 and rate <= 333.0  # run 7, the repeat, hits the slow phase

    search = CapacitySearch(100.0, tolerance=0.1)
    rates = drive(search, passes)
    m1 = math.sqrt(200.0 * 400.0)
    m3 = math.sqrt(m1 * math.sqrt(m1 * 400.0))
    assert rates[-3:] == [m3, m3, m1] and len(rates) == 8
    assert (search.low, search.high, search.confirmed, search.runs) == (m1, m3, True, 8)
    result = BatchResult(1)
    search.put(result)
    assert result.values["max_qps_at_slo"] == (m1, m1, m3, 8)


def test_a_miss_is_believed_over_a_pass_above_it():
    """Runs before the search (counted=False: the scenario's fixed rates) are evidence: a pass at 400 above
    a miss at 300 does not raise the lower end. The search bisects [50, 300] from there, its runs counted."""
    search = CapacitySearch(100.0, tolerance=0.1)
    for rate, passed in ((50.0, True), (300.0, False), (400.0, True)):
        search.record(rate, passed, counted=False)
    assert (search.low, search.high, search.runs) == (50.0, 300.0, 0)
    rates = drive(search, lambda r: r <= 200.0)
    s1 = math.sqrt(50.0 * 300.0)  # 122.5: pass
    s2 = math.sqrt(s1 * 300.0)  # 191.7: pass
    s3 = math.sqrt(s2 * 300.0)  # 239.8: miss
    s4 = math.sqrt(s2 * s3)  # 214.4: miss; 214.4 / 191.7 = 1.12
    s5 = math.sqrt(s2 * s4)  # 202.7: miss; 202.7 / 191.7 = 1.06: bracketed
    assert rates == [s1, s2, s3, s4, s5, s2]
    summary = search.summary()
    assert (summary["low"], summary["high"], summary["confirmed"], summary["stopped"]) == (s2, s5, True, None)
    assert [(r["qps"], r["passed"], r["search"]) for r in summary["runs"][:4]] == \
        [(50.0, True, False), (300.0, False, False), (400.0, True, False), (s1, True, True)]
    assert search.runs == 6 and len(summary["runs"]) == 9


def test_capacity_ladder_goes_down_while_the_first_rates_miss():
    search = CapacitySearch(100.0, tolerance=0.1)
    rates = drive(search, lambda r: r <= 30.0)
    b1 = math.sqrt(25.0 * 50.0)  # 35.4: miss
    b2 = math.sqrt(25.0 * b1)  # 29.7: pass
    b3 = math.sqrt(b2 * b1)  # 32.4: miss; 32.4 / 29.7 = 1.09: bracketed
    assert rates == [100.0, 50.0, 25.0, b1, b2, b3, b2]
    assert (search.low, search.high, search.confirmed) == (b2, b3, True)


def test_capacity_ladder_stops_at_the_lowest_rate():
    """Halving stops before a rate under ``lowest`` (a rate equal to it is still tried); nothing passed."""
    search = CapacitySearch(100.0, lowest=20.0)
    assert drive(search, lambda r: False) == [100.0, 50.0, 25.0]
    assert (search.low, search.confirmed) == (None, False)
    assert search.stopped == "the p99 is over the SLO even at 25 queries/s"
    result = BatchResult(1)
    search.put(result)
    assert "max_qps_at_slo" not in result.values
    assert result.absent["max_qps_at_slo"][1] == "the p99 is over the SLO even at 25 queries/s"
    assert drive(CapacitySearch(100.0, lowest=25.0), lambda r: False) == [100.0, 50.0, 25.0]


def test_capacity_search_stops_at_max_runs_with_the_bracket_so_far():
    search = CapacitySearch(100.0, max_runs=3)
    assert drive(search, lambda r: r <= 333.0) == [100.0, 200.0, 400.0]
    assert (search.low, search.high, search.confirmed, search.runs) == (200.0, 400.0, False, 3)
    assert search.stopped == "stopped after 3 runs: the bracket so far is reported, unconfirmed"
    result = BatchResult(1)
    search.put(result)
    assert result.values["max_qps_at_slo"] == (200.0, 200.0, 400.0, 3)


def test_capacity_search_that_never_misses_has_no_upper_end():
    search = CapacitySearch(100.0, max_runs=5)
    assert drive(search, lambda r: True) == [100.0, 200.0, 400.0, 800.0, 1600.0]
    result = BatchResult(1)
    search.put(result)
    value = result.values["max_qps_at_slo"]
    assert value[:2] == (1600.0, 1600.0) and math.isnan(value[2]) and value[3] == 5


# --- a rate's row values ------------------------------------------------------------------------------------


def outcome(latency_ms: list[float], batches: list[int], span: float) -> LoadOutcome:
    return LoadOutcome(np.array(latency_ms, dtype=float), batches, np.empty(0), 0.0, span)


def test_put_rate_on_a_hand_made_run():
    """100 queries: 1..99 ms and one dropped (NaN, counted as infinitely late). Percentiles are order
    statistics (inverted CDF: the ceil(100 q)-th smallest), not interpolated; the mean is of the served."""
    run = outcome(list(range(1, 100)) + [math.nan], [2] * 50, span=2.0)
    result = BatchResult(1, target_qps=50.0)
    put_rate(result, run, slo_ms=95.0)
    values = {name: v[0] for name, v in result.values.items()}
    assert values == {"latency_p50_ms": 50.0, "latency_p90_ms": 90.0, "latency_p99_ms": 99.0,
                      "latency_mean_ms": 50.0, "achieved_qps": 99 / 2.0, "mean_batch_size": 2.0,
                      "late_share": 5 / 100,  # 96..99 and the dropped one
                      "dropped_share": 1 / 100}
    assert result.values["latency_p99_ms"][3] == 100 and result.values["latency_mean_ms"][3] == 99
    assert (p99(run), within_slo(run, 99.0), within_slo(run, 98.9)) == (99.0, True, False)


def test_a_dropped_query_can_be_the_p99():
    """Two dropped of 100: the 99th smallest is a dropped one, so the p99 is infinite: absent, with why."""
    run = outcome(list(range(1, 99)) + [math.nan, math.nan], [1] * 98, span=1.0)
    result = BatchResult(1)
    put_rate(result, run, slo_ms=1000.0)
    assert "latency_p99_ms" not in result.values and result.values["latency_p90_ms"][0] == 90.0
    assert result.absent["latency_p99_ms"][1].startswith("over 1% of the queries were not served")
    assert p99(run) == math.inf and not within_slo(run, 1e9)
    assert result.values["late_share"][0] == 2 / 100  # a dropped query is late even against a 1 s SLO


def test_put_rate_when_nothing_was_served():
    result = BatchResult(1)
    put_rate(result, outcome([math.nan] * 3, [], span=0.0), slo_ms=10.0)
    assert set(result.values) == {"late_share", "dropped_share"}
    assert result.values["dropped_share"][0] == 1.0
    assert {"latency_mean_ms", "achieved_qps", "mean_batch_size", "latency_p50_ms"} <= set(result.absent)


def test_a_search_run_gives_up_at_the_fewest_late_queries_that_put_its_p99_over_the_slo():
    """rate_run's abort_after_late (count // 100 + 1) agrees with p99 (the ceil(0.99 n)-th order statistic)
    at every count: one late query fewer leaves the p99 within the SLO, that many put it over."""
    spec = LoadSpec("server", duration_seconds=1.0, slo_p99_ms=100.0)
    for count in range(459, 2500):
        run = rate_run(spec, float(count), search=True)
        assert len(run.arrivals) == count
        k = run.abort_after_late
        assert k is not None
        under = outcome([1.0] * (count - k + 1) + [math.nan] * (k - 1), [], 1.0)
        over = outcome([1.0] * (count - k) + [math.nan] * k, [], 1.0)
        assert within_slo(under, 100.0) and not within_slo(over, 100.0), count


def test_rate_runs_hold_at_least_min_queries():
    spec = LoadSpec("server", duration_seconds=8.0, slo_p99_ms=50.0, batch_timeout_ms=2.0, max_batch=4)
    low, high = rate_run(spec, 10.0, search=False), rate_run(spec, 100.0, search=True)
    assert len(low.arrivals) == 459 and len(high.arrivals) == 800
    assert (low.max_batch, low.timeout_seconds, low.drain_seconds, low.abort_after_late) == (4, 0.002, 8.0, None)
    assert (high.drain_seconds, high.slo_ms, high.abort_after_late) == (1.0, 50.0, 9)
