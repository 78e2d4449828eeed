"""The server loop (:func:`harness.measure.loadgen.serve_queries`) against queueing theory.

A model of known service time, served one query at a time under the
harness's own Poisson schedule, is an M/D/1 queue (constant service) or an
M/M/1 queue (exponential service): its mean response time is known in closed
form. Every queue of ``tests.queueing.CASES`` is served on test_loadgen's
virtual clock (a sleep wakes on time, or a fixed amount late; a forward takes
exactly its service time), where each latency must be Lindley's to float
precision (or within the oversleep of it) and the mean within the run's own
chance error of W: no machine is in the way, so this always runs. One queue
(M/D/1 at rho 0.5, about 12 s) is also served on the real clock, with the
error sources apart (see tests/queueing.py):

- every query's measured latency is at least Lindley's on the same arrivals
  and services: exact, so it holds however busy the machine is (anything the
  machine or the loop adds is a delay); a loop that measured from the start of
  service, or served ahead of an arrival or out of turn, would break it;
- the loop's own share over Lindley is small: its wake-up lateness and its
  overhead between forwards, nothing else;
- the measured mean is within 10% of the theory's W, and the achieved rate
  (as ``serving.put_rate`` reports it) within 5% of the target.

The timing checks need a model that kept its service time: a run in which
the machine held the model up, or that other processes contended
(``QueueRun.quiet``, with the harness's own machine-load judge), is served
again once; if that run is not quiet either, the checks that a busy machine
moves are skipped with the numbers, not failed (the exact bound is still
checked).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats

from harness.measure import loadgen
from harness.measure.loadgen import LoadRun, min_queries, schedule, serve_queries
from tests.queueing import CASES, QueueRun, lindley, md1_response, mm1_response, serve_quietly
from tests.unit.test_loadgen import Clock, Model

#: the loop's share of the mean latency (over Lindley's on the services as taken). It is the loop's wake-up
#: lateness (about 0.1-0.3 ms) plus its overhead per forward ahead in the busy period, so it grows with rho and
#: with the CPU: 2.6-3.7% on the 2-core VM it was first measured on, 4.0-6.6% on an idle AMD EPYC VM (rho 0.8
#: the largest), more in CI. The bound is set by the fault it must catch, not by one machine: a loop that idled
#: with a query queued until the next arrival, or woke a timer tick late, adds about a gap (D / rho) to each
#: query of a busy period, a share of 25% or more at these rho
LOOP_SHARE = 0.12
#: the loop's delay of a typical query (median over the run), as a share of the service time D: 0.2-0.5 ms was
#: seen at D = 4-5 ms idle and 0.58 ms in a CI run; the faults above add D-scale delays
LOOP_MEDIAN_OF_D = 0.2
THEORY_TOLERANCE = 0.10
QPS_TOLERANCE = 0.05


@functools.cache
def run(name: str) -> QueueRun:
    """Each case is served once per session (about 58 s for all three) and checked by several tests."""
    return serve_quietly(CASES[name])


def quiet(r: QueueRun) -> QueueRun:
    if not r.quiet:
        pytest.skip(f"{r.case.name}: in both runs {r.why_not_quiet()}: a busy machine, not the server loop")
    return r


# --- the theory and the recursion, without a clock ----------------------------------------------------------


def test_lindley_is_the_fifo_single_server_queue():
    """Lindley's recursion on waits equals the completion-time form C_n = max(A_n, C_{n-1}) + S_n."""
    rng = np.random.default_rng(0)
    arrivals, services = np.sort(rng.uniform(0, 100, 500)), rng.exponential(0.25, 500)
    completion = np.empty(500)
    for i in range(500):
        completion[i] = max(arrivals[i], completion[i - 1] if i else -math.inf) + services[i]
    np.testing.assert_allclose(lindley(arrivals, services), completion - arrivals, rtol=0, atol=1e-9)


def test_textbook_values():
    assert md1_response(4.0, 0.5) == 6.0 and md1_response(5.0, 0.8) == pytest.approx(15.0)
    assert mm1_response(4.0, 0.5) == 8.0  # 1 / (mu - lambda) with mu = 250/s, lambda = 125/s: 8 ms


def test_a_poisson_schedule_has_exponential_gaps():
    """Sorted uniform times (Poisson conditioned on its count) are spaced like a Poisson process: KS against
    Exp(1 / rate). Seed 0; over seeds 0-999, p > 0.01 for 100% of them at this count."""
    rate = 250.0
    gaps = np.diff(schedule(rate, 2000, "poisson", seed=0))
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > 0.01
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.05)
    # and the test can tell: evenly spaced arrivals are not exponential
    assert stats.kstest(np.diff(schedule(rate, 2000, "uniform")), "expon", args=(0, 1 / rate)).pvalue < 1e-6


@pytest.mark.parametrize(("quantile", "confidence"),
                         [(0.99, 0.99), (0.99, 0.95), (0.9, 0.99), (0.95, 0.9), (0.999, 0.99), (0.5, 0.75)])
def test_min_queries_is_the_smallest_n_whose_maximum_bounds_the_quantile(quantile: float, confidence: float):
    """The slowest of n bounds the quantile from above unless all n fall below it (probability quantile^n):
    binom.cdf(n - 1, n, quantile) = 1 - quantile^n must reach the confidence at n and not at n - 1."""
    n = min_queries(quantile, confidence)
    assert stats.binom.cdf(n - 1, n, quantile) >= confidence
    assert stats.binom.cdf(n - 2, n - 1, quantile) < confidence


def test_min_queries_for_p99_at_99_percent_is_459():
    assert min_queries() == 459 and 1 - 0.99**459 >= 0.99 > 1 - 0.99**458


# --- the loop against the queue on a virtual clock: no machine in the way, so it always runs (milliseconds) ----


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("oversleep_ms", [0.0, 0.1])
def test_on_a_virtual_clock_the_loop_is_lindleys_queue(name: str, oversleep_ms: float,
                                                       monkeypatch: pytest.MonkeyPatch):
    """Every case's arrivals and service times through the real loop on test_loadgen's virtual clock (a forward
    takes exactly its service time; a sleep wakes exactly on time, or ``oversleep_ms`` late). On time, each
    query's latency is Lindley's, to float precision: FIFO, one at a time, measured from the scheduled arrival,
    never idle with a query queued. Waking late, each is Lindley's plus at most the one oversleep (the loop
    sleeps only when idle, so the lag behind the on-time queue never grows past it). The mean then matches the
    theory's W within the run's own chance error (THEORY_TOLERANCE)."""
    case = CASES[name]
    clock = Clock(oversleep=oversleep_ms / 1000.0)
    monkeypatch.setattr(loadgen, "time", clock)
    arrivals, services = case.arrivals(), case.services()
    drawn = iter(services.tolist())
    outcome = serve_queries(Model(clock, lambda _k: next(drawn)), LoadRun(arrivals, max_batch=1), lead_seconds=0.0)
    assert outcome.served == case.queries and outcome.batches == [1] * case.queries
    excess = outcome.latency_ms - lindley(arrivals, services) * 1000.0
    assert excess.min() >= -1e-6 and excess.max() <= oversleep_ms + 1e-6
    assert (oversleep_ms == 0) == (excess.max() <= 1e-6)  # a late wake-up shows, an on-time loop adds nothing
    assert outcome.latency_ms.mean() / case.theory_ms() - 1 == pytest.approx(0, abs=THEORY_TOLERANCE)


# --- the loop against the queue on the real clock: one case, about 12 s ----------------------------------
#: the real-time case: the whole path (sleeps, the machine's scheduler, put_rate) once; the virtual clock above
#: checks every case's semantics. benchmarks/queueing_table.py serves all of CASES in real time.
REAL_TIME = ["md1-0.5"]


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_TIME)
def test_no_query_responds_faster_than_lindley(name: str):
    """Exact, busy machine or not: every query is served, and its latency is at least Lindley's on the
    services as the model took them, which is at least Lindley's on the services it drew."""
    r = run(name)
    assert r.outcome.served == r.case.queries and r.outcome.batches == [1] * r.case.queries
    assert np.all(r.latency_ms >= r.replay_ms - 1e-6), f"{name}: a query responded faster than the queue allows"
    assert np.all(r.replay_ms >= r.lindley_ms - 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_TIME)
def test_the_loop_adds_little_over_lindley(name: str):
    """The loop's share over Lindley (on the services as taken, the same arrivals): a typical query within
    D / 5, the mean within 12%. A loop that idled with a query queued, or woke late, would add D-scale delays."""
    r = quiet(run(name))
    excess = r.excess_ms()
    share = r.latency_ms.mean() / r.replay_ms.mean() - 1
    bound = LOOP_MEDIAN_OF_D * r.case.service_ms
    assert np.median(excess) <= bound, f"{name}: median loop delay {np.median(excess):.3f} ms, over {bound:.2f} ms"
    assert share <= LOOP_SHARE, (f"{name}: measured mean {r.latency_ms.mean():.3f} ms is {share:+.1%} over "
                                 f"Lindley's {r.replay_ms.mean():.3f} ms (wake-up lateness p99 "
                                 f"{r.lateness_ms(0.99):.3f} ms)")


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_TIME)
def test_the_mean_response_time_matches_the_theory(name: str):
    """M/D/1: W = D + rho D / (2 (1 - rho)) (rho 0.5 and 0.8); M/M/1: W = 1 / (mu - lambda) (rho 0.5).
    Within 10%: the run's own chance error (Lindley against W, fixed by the seed; see tests.queueing.CASES)
    plus the loop's share (the test above)."""
    r = quiet(run(name))
    theory, measured, chance = r.case.theory_ms(), r.latency_ms.mean(), r.lindley_ms.mean()
    assert r.relative(measured) == pytest.approx(0, abs=THEORY_TOLERANCE), \
        f"{name}: measured {measured:.3f} ms, W = {theory:.3f} ms; Lindley (same arrivals, no clock) {chance:.3f} ms"


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_TIME)
def test_the_achieved_rate_matches_the_target(name: str):
    """achieved_qps (served over the span to the last completion, as put_rate reports it) within 5%: the
    schedule offers exactly the target rate, and the queue is stable, so it is served at that rate."""
    r = run(name)
    assert r.values["achieved_qps"] == pytest.approx(r.case.rate, rel=QPS_TOLERANCE)
    assert r.values["latency_mean_ms"] == pytest.approx(r.latency_ms.mean())


def test_exponential_services_are_the_seeded_draws():
    """The M/M/1 model draws one service per call from its seeded generator: the same draws as case.services(),
    whose mean is the case's mean service time."""
    case = CASES["mm1-0.5"]
    draw = case.draw()
    np.testing.assert_array_equal([draw() for _ in range(case.queries)], case.services())
    assert np.mean(case.services()) * 1000 == pytest.approx(case.service_ms, rel=0.1)
