"""Queueing theory for the server loop (:func:`harness.measure.loadgen.serve_queries`): shared by
tests/unit/test_queueing_theory.py and benchmarks/queueing_table.py.

A model of known service time served one query at a time under Poisson
arrivals is a textbook queue: constant service ``D`` is M/D/1, exponential
service is M/M/1. Two error sources separate a measured mean response time
from the theory's:

- the sample: a finite run of a queue has its own mean, away from the
  stationary one (at rho = 0.8 by several per cent, even over thousands of
  queries: the waits are strongly autocorrelated). :func:`lindley` computes
  it exactly from the same arrival times and service times, without a clock;
- the server loop and the machine: its wake-up lateness and Python overhead
  between forwards, and the model's own missed deadlines. Every one of them
  only delays, so the measured latency of each query is at least Lindley's.

:func:`serve` runs one :class:`QueueCase` through the real loop and keeps both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.measure.batch import BatchResult
from harness.measure.loadgen import LoadOutcome, LoadRun, schedule, serve_queries
from harness.measure.machine_load import LoadRecorder
from harness.measure.serving import put_rate

#: the model sleeps all but this much of its service time, then spins to the deadline: time.sleep wakes
#: 0.05-0.2 ms late here (Linux timer slack and scheduling), and an exact service time is the premise of the
#: theory. The spin is the *model's* CPU (what a real forward would use), not the load generator's: the server
#: loop itself only sleeps, and it is blocked in forward() while the model spins.
SPIN_SECONDS = 0.0005
#: a run is quiet if the model's missed deadlines moved its mean response time by at most this share of W
QUIET = 0.01


class ServiceModel:
    """A ``forward(k)`` of known service time: each call takes the next ``draw()`` seconds, exactly.

    Records, per call, the service time it drew, when it entered and returned
    (``perf_counter``), and how late its sleep woke (the machine's wake-up
    lateness, seen by a witness that is not the load generator).
    """

    def __init__(self, draw: Callable[[], float]):
        self.draw = draw
        self.services: list[float] = []
        self.entered: list[float] = []
        self.returned: list[float] = []
        self.sleep_late: list[float] = []

    def __call__(self, k: int) -> None:
        entered = time.perf_counter()
        seconds = self.draw()
        deadline = entered + seconds
        if seconds > SPIN_SECONDS:
            time.sleep(seconds - SPIN_SECONDS)
            self.sleep_late.append(max(0.0, time.perf_counter() - (deadline - SPIN_SECONDS)))
        while (now := time.perf_counter()) < deadline:
            pass
        self.services.append(seconds)
        self.entered.append(entered)
        self.returned.append(now)

    def served_seconds(self) -> np.ndarray:
        """Each call's service time as it happened (return minus entry)."""
        return np.asarray(self.returned) - np.asarray(self.entered)


def lindley(arrivals: np.ndarray, services: np.ndarray) -> np.ndarray:
    """Each query's response time in a FIFO single-server queue (same unit as the inputs).

    Lindley's recursion: the n-th query waits W_n = max(0, W_{n-1} + S_{n-1}
    - (A_n - A_{n-1})) (W_0 = 0: the queue starts empty, as a run does), and
    responds in W_n + S_n.

    >>> lindley(np.array([0.0, 1.0, 1.5, 5.0]), np.array([2.0, 2.0, 1.0, 1.0])).tolist()
    [2.0, 3.0, 3.5, 1.0]
    """
    a, s = np.asarray(arrivals, dtype=float).tolist(), np.asarray(services, dtype=float).tolist()
    response = np.empty(len(a))
    wait = 0.0
    for i in range(len(a)):
        if i:
            wait = max(0.0, wait + s[i - 1] - (a[i] - a[i - 1]))
        response[i] = wait + s[i]
    return response


def md1_response(service: float, rho: float) -> float:
    """M/D/1 mean response time (Pollaczek-Khinchine): W = D + rho D / (2 (1 - rho))."""
    return service + rho * service / (2 * (1 - rho))


def mm1_response(mean_service: float, rho: float) -> float:
    """M/M/1 mean response time: W = 1 / (mu - lambda) = (1 / mu) / (1 - rho)."""
    return mean_service / (1 - rho)


@dataclass(frozen=True)
class QueueCase:
    """One queue: ``kind`` M/D/1 (service ``service_ms`` exactly) or M/M/1 (exponential, mean ``service_ms``),
    at utilisation ``rho``, ``queries`` Poisson arrivals at rate rho / service; ``seed`` seeds the arrivals (and
    the exponential draws, with their own generator)."""

    kind: str
    rho: float
    service_ms: float
    queries: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind} rho={self.rho:g}"

    @property
    def rate(self) -> float:
        """Target arrival rate (queries/s)."""
        return self.rho / (self.service_ms / 1000.0)

    def arrivals(self) -> np.ndarray:
        return schedule(self.rate, self.queries, "poisson", self.seed)

    def draw(self) -> Callable[[], float]:
        """One service time (s) per call: constant, or exponential from a generator seeded by ``seed``."""
        mean = self.service_ms / 1000.0
        if self.kind == "M/D/1":
            return lambda: mean
        if self.kind == "M/M/1":
            rng = np.random.default_rng([self.seed, 1])  # not the arrivals' stream
            return lambda: float(rng.exponential(mean))
        raise ValueError(f"unknown queue {self.kind!r} (M/D/1 or M/M/1)")

    def services(self) -> np.ndarray:
        """The service times :meth:`draw` yields for the run's queries, drawn afresh (s)."""
        draw = self.draw()
        return np.array([draw() for _ in range(self.queries)])

    def theory_ms(self) -> float:
        if self.kind == "M/D/1":
            return md1_response(self.service_ms, self.rho)
        return mm1_response(self.service_ms, self.rho)


@dataclass
class QueueRun:
    """One case through the server loop: its outcome, the model's record, and Lindley on the same inputs."""

    case: QueueCase
    arrivals: np.ndarray
    outcome: LoadOutcome
    model: ServiceModel
    #: Lindley's response times (ms) with the services the model drew (what the queue was meant to be)
    lindley_ms: np.ndarray
    #: and with the services as the model took them (its missed deadlines, the machine's, included)
    replay_ms: np.ndarray
    values: dict[str, float] = field(default_factory=dict)
    #: the machine's load while the case was served (:class:`harness.measure.machine_load.LoadRecorder`)
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_ms(self) -> np.ndarray:
        return self.outcome.latency_ms

    def held_up(self) -> float:
        """How far the model's own missed deadlines moved the mean response time, over the theory's W:
        Lindley on the services as the model took them minus Lindley on the services it drew. The machine's
        doing (a sleep that woke past the spin margin, a preemption), seen by a witness that is not the loop
        under test."""
        return float(np.nanmean(self.replay_ms - self.lindley_ms)) / self.case.theory_ms()

    @property
    def contended(self) -> bool:
        """Did other processes (or the hypervisor) take the machine while the case was served, as the harness
        judges a measure phase (:func:`harness.measure.machine_load.judge`)?"""
        return bool(self.load.get("contended"))

    @property
    def quiet(self) -> bool:
        """Did the machine leave the model alone (:meth:`held_up` at most ``QUIET``) and the run uncontended?
        Then it left the server loop's sleeps alone too, near enough: they wait on the same scheduler."""
        return self.held_up() <= QUIET and not self.contended

    def why_not_quiet(self) -> str:
        if self.contended:
            return f"the machine was contended while it served ({self.load.get('reason')})"
        return (f"the machine held the model up (its missed deadlines moved the mean by {self.held_up():.1%} of W, "
                f"over {QUIET:.0%})")

    def excess_ms(self) -> np.ndarray:
        """Each query's measured latency over Lindley's on the services as taken: the server loop's share
        (its wake-up lateness and its overhead between forwards, accumulated over a busy period)."""
        return self.latency_ms - self.replay_ms

    def relative(self, value: float) -> float:
        return value / self.case.theory_ms() - 1

    def lateness_ms(self, q: float) -> float:
        late = self.outcome.lateness_ms
        return float(np.quantile(late, q)) if len(late) else math.nan


def serve(case: QueueCase) -> QueueRun:
    """Run ``case`` through :func:`serve_queries` (one query at a time, no batching) and compute Lindley."""
    arrivals = case.arrivals()
    model = ServiceModel(case.draw())
    with LoadRecorder() as recorder:
        outcome = serve_queries(model, LoadRun(arrivals, max_batch=1))
    result = BatchResult(1, target_qps=case.rate)
    put_rate(result, outcome, slo_ms=math.inf)
    values = {name: v[0] for name, v in result.values.items()}
    served = len(model.services)  # one query per call, first come first served: the served are a prefix

    def response_ms(services: np.ndarray) -> np.ndarray:
        return np.concatenate([lindley(arrivals[:served], services) * 1000.0, np.full(len(arrivals) - served, np.nan)])

    return QueueRun(case, arrivals, outcome, model, response_ms(np.asarray(model.services)),
                    response_ms(model.served_seconds()), values, recorder.summary())


def serve_quietly(case: QueueCase, attempts: int = 2) -> QueueRun:
    """:func:`serve` until a run is quiet (:attr:`QueueRun.quiet`), at most ``attempts`` times; else the run whose
    model was held up least."""
    runs: list[QueueRun] = []
    for _ in range(attempts):
        runs.append(serve(case))
        if runs[-1].quiet:
            break
    return min(runs, key=lambda r: (r.contended, r.held_up()))


def lindley_errors(case: QueueCase, seeds: range) -> np.ndarray:
    """Lindley's mean response time over the theory's, minus 1, for ``case`` at each of ``seeds`` (no clock):
    how far a run of ``case.queries`` queries is from the stationary mean by chance alone."""
    errors = np.empty(len(seeds))
    for i, seed in enumerate(seeds):
        c = replace(case, seed=seed)
        errors[i] = lindley(c.arrivals(), c.services()).mean() * 1000.0 / c.theory_ms() - 1
    return errors


#: The queues the server loop is checked against (tests/unit/test_queueing_theory.py) and tabulated
#: (benchmarks/queueing_table.py; about 58 s of serving in all, in real time; the test serves all on a virtual clock
#: and md1-0.5 in real time). The service time is a few ms: the loop's own
#: share of a latency, about 0.1 ms of wake-up lateness plus 0.02-0.05 ms per forward ahead in the busy
#: period on the 2-core VM, stays a few per cent of W. The count is what that time allows, and the theory's
#: tolerance (10%) is what it must absorb: a run's Lindley mean is this far from W by chance, over seeds
#: 0-999 (``benchmarks/queueing_table.py --seeds 1000``). Seed 0, the schedule's default, is used throughout.
CASES = {
    # Lindley within 5% of W for 95.5% of seeds, within 10% for 100%; seed 0: -0.9%
    "md1-0.5": QueueCase("M/D/1", 0.5, service_ms=4.0, queries=1500),  # 12 s
    # within 5% for 66.9%, within 10% for 94.0%; seed 0: -1.1%. 99% of seeds within 5% would take about
    # 42,000 queries (4.4 min): the waits at rho = 0.8 are correlated over long busy periods
    "md1-0.8": QueueCase("M/D/1", 0.8, service_ms=5.0, queries=4800),  # 30 s
    # within 5% for 57.5%, within 10% for 89.3%; seed 0: -5.8%. 99% within 5%: about 20,000 queries (2.7 min)
    "mm1-0.5": QueueCase("M/M/1", 0.5, service_ms=4.0, queries=2000),  # 16 s
}
