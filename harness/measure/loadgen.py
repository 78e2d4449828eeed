"""Open-loop load: a schedule of query arrivals drawn in advance, and the server loop that meets it.

A serving scenario asks how a model behaves when queries arrive on their own
clock, not when the previous answer is back. :func:`schedule` draws the
arrival times of one run before it starts (seeded): ``poisson`` is a Poisson
process conditioned on its count (``count`` sorted uniform times over
``count / rate`` seconds, so the offered rate is exactly ``rate``),
``uniform`` evenly spaced arrivals; ``offline`` puts every query at time 0.

:func:`serve_queries` runs in the measuring process and is both the load
generator and the server, in one thread: the schedule is known, so a query
that arrives while a batch is running needs no thread to enqueue it; it is
in the queue from its scheduled time, and the server takes it with the next
batch. The dynamic batcher serves up to ``max_batch`` queued queries at
once, first come first served, and waits at most ``timeout`` (from the
oldest queued query's arrival) for a batch to fill. When the queue is empty
the loop sleeps until the next arrival; it never spins, so it takes no CPU
from the model. A query's latency is its completion minus its *scheduled*
arrival: a late wake-up, or a batch that ran long, adds to the latency of
every query it delayed (no coordinated omission).

What the loop cannot do exactly is wake on time. Each sleep's lateness
(actual wake-up minus the time it slept until) is recorded; it is part of
the latencies (never hidden), and the run reports it so that a reader can
see it is small against them (docs/serving.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: arrival processes of the server scenario
ARRIVALS = ("poisson", "uniform")
#: the confidence with which the slowest of a run's queries bounds its p99 from above (MLPerf uses 99%)
P99_CONFIDENCE = 0.99


def min_queries(quantile: float = 0.99, confidence: float = P99_CONFIDENCE) -> int:
    """The fewest queries whose slowest one is an upper bound of the ``quantile`` latency with ``confidence``.

    With n independent latencies, all n fall below the true ``quantile`` with
    probability ``quantile ** n``; the largest is an upper confidence bound of
    it once that is at most ``1 - confidence``: ``n >= log(1 - confidence) /
    log(quantile)``. For p99 at 99%, 459 queries (at 95%, 299).

    >>> min_queries(), min_queries(0.99, 0.95), min_queries(0.9, 0.99)
    (459, 299, 44)
    """
    return math.ceil(math.log1p(-confidence) / math.log(quantile) - 1e-9)


def schedule(rate: float, count: int, arrival: str = "poisson", seed: int = 0) -> np.ndarray:
    """``count`` arrival times (seconds from the run's start, sorted) at ``rate`` queries per second.

    >>> schedule(4.0, 4, "uniform").tolist()
    [0.0, 0.25, 0.5, 0.75]
    >>> bool(np.all(np.diff(schedule(100.0, 500, "poisson", seed=1)) >= 0))
    True
    """
    if rate <= 0 or count < 1:
        raise ValueError(f"a schedule needs a positive rate and at least one query (got {rate}, {count})")
    span = count / rate
    if arrival == "uniform":
        return np.arange(count, dtype=np.float64) / rate
    if arrival == "poisson":
        return np.sort(np.random.default_rng(seed).uniform(0.0, span, count))
    raise ValueError(f"unknown arrival process {arrival!r} (allowed: {', '.join(ARRIVALS)})")


@dataclass(frozen=True)
class LoadSpec:
    """How a scenario cell loads each model (``measure.scenarios``; see :mod:`harness.measure.serving`).

    ``offline``: ``queries`` queued at once, served ``max_batch`` at a time.
    ``server``: one run per target rate of ``qps``, each ``duration_seconds``
    of ``arrival`` (poisson | uniform) arrivals seeded by ``seed``; the
    batcher serves up to ``max_batch`` and waits up to ``batch_timeout_ms``
    for a batch to fill; then, with ``search``, the highest rate whose p99 is
    within ``slo_p99_ms`` (to ``search_tolerance``, relative).
    """

    scenario: str
    max_batch: int = 1
    queries: int = 0
    qps: tuple[float, ...] = ()
    duration_seconds: float = 8.0
    arrival: str = "poisson"
    batch_timeout_ms: float = 0.0
    slo_p99_ms: float = math.inf
    seed: int = 0
    search: bool = True
    search_tolerance: float = 0.1


@dataclass(frozen=True)
class LoadRun:
    """One run of the server loop: the arrival times (s), the batcher's limits, and when to give up.

    ``drain_seconds``: how long after the last scheduled arrival the server
    goes on; queries still queued then are dropped. ``abort_after_late``:
    stop as soon as this many queries are known to miss ``slo_ms`` (finished
    late, or still queued past it); the rest count as dropped. The capacity
    search sets it: once more than 1% of a run is late its p99 is over the
    SLO, and the rest of the run would only confirm it.
    """

    arrivals: np.ndarray
    max_batch: int = 1
    timeout_seconds: float = 0.0
    drain_seconds: float = 5.0
    slo_ms: float = math.inf
    abort_after_late: int | None = None


@dataclass
class LoadOutcome:
    """What one run measured. ``latency_ms``: per query, completion minus scheduled arrival (NaN: dropped);
    ``batches``: the size of each batch served; ``lateness_ms``: each sleep's wake-up lateness;
    ``busy_seconds``: time spent in forwards; ``span_seconds``: from the run's start to its last completion."""

    latency_ms: np.ndarray
    batches: list[int] = field(default_factory=list)
    lateness_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    busy_seconds: float = 0.0
    span_seconds: float = 0.0
    aborted: bool = False

    @property
    def served(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.latency_ms)))


def sleep_until(deadline: float) -> float:
    """Sleep (never spin) until ``perf_counter() >= deadline``; returns how late it woke (s, >= 0)."""
    while (left := deadline - time.perf_counter()) > 0:
        time.sleep(left)
    return time.perf_counter() - deadline


def serve_queries(forward: Callable[[int], object], run: LoadRun, lead_seconds: float = 0.005) -> LoadOutcome:
    """Serve ``run``'s queries with ``forward(k)`` (one batch of ``k`` queries, synchronous); see the module."""
    arrivals, max_batch, n = run.arrivals, run.max_batch, len(run.arrivals)
    done = np.full(n, np.nan)
    batches: list[int] = []
    lateness: list[float] = []
    busy, late, aborted = 0.0, 0, False
    slo = run.slo_ms / 1000.0
    start = time.perf_counter() + lead_seconds
    give_up = start + float(arrivals[-1]) + run.drain_seconds
    head = 0  # the oldest query not yet served (first come, first served)
    while head < n:
        now = time.perf_counter()
        if now >= give_up:
            break
        released = int(np.searchsorted(arrivals, now - start, side="right"))
        if released == head:  # nothing queued: sleep until the next arrival
            lateness.append(sleep_until(start + arrivals[head]))
            continue
        if released - head < max_batch and run.timeout_seconds > 0:  # wait for the batch to fill, up to the timeout
            fill = head + max_batch - 1
            wake = min(start + arrivals[head] + run.timeout_seconds,
                       start + arrivals[fill] if fill < n else math.inf, give_up)
            if wake > now:
                lateness.append(sleep_until(wake))
                continue
        size = min(released - head, max_batch)
        began = time.perf_counter()
        forward(size)
        finished = time.perf_counter()
        busy += finished - began
        done[head:head + size] = finished
        batches.append(size)
        head += size
        if run.abort_after_late is not None:
            late += int(np.count_nonzero(finished - (start + arrivals[head - size:head]) > slo))
            waiting = int(np.searchsorted(arrivals, finished - start - slo, side="right")) - head
            if late + max(waiting, 0) >= run.abort_after_late:
                aborted = True
                break
    span = float(np.nanmax(done)) - start if head else 0.0
    return LoadOutcome((done - start - arrivals) * 1000.0, batches, np.asarray(lateness) * 1000.0, busy, span,
                       aborted)
