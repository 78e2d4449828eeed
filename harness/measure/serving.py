"""Serving scenarios, the parent's side: the models of a cell under open-loop load, in alternation.

A cell whose request carries a :class:`~harness.measure.loadgen.LoadSpec` is
measured here instead of by closed-loop rounds (:mod:`harness.measure.paired`).
Each model still has its own fresh measuring process, and only one runs at a
time: the parent sends it one run (:class:`~harness.measure.loadgen.LoadRun`)
and blocks until the run is back.

- ``offline``: every query (the test split's size) is queued at time 0 and
  served in batches of ``max_batch``; ``OFFLINE_ROUNDS`` rounds, the models in
  a seeded random order each round; throughput is the median over rounds.
- ``server``: at each target rate of ``qps``, every model serves one run of
  ``duration_seconds`` (in a random order per rate); then the capacity search
  (:class:`CapacitySearch`) of every model advances one step at a time, the
  models again in turn, so that the teacher's and the students' searches
  span the same stretch of the machine's time.

Every run of a rate holds at least :func:`~harness.measure.loadgen.min_queries`
queries (459: the slowest of them bounds the p99 from above with 99%
confidence), stretched over a longer run where ``duration_seconds`` at that
rate would hold fewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from harness.measure.batch import BatchResult
from harness.measure.loadgen import LoadOutcome, LoadRun, LoadSpec, min_queries, schedule
from harness.measure.paired import GroupResult, Player, close_all, measure_group, start_player
from harness.measure.session import CellRequest, to_payload
from harness.measure.worker import Contestant, WorkerFailed
from harness.rows import Status

#: the metrics of one target rate of the server scenario, and of the capacity search
RATE_METRICS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms", "achieved_qps",
                "mean_batch_size", "late_share", "dropped_share")
CAPACITY_METRICS = ("max_qps_at_slo", "capacity_vs_teacher")
OFFLINE_METRICS = ("throughput_sps", "offline_seconds")
OFFLINE_ROUNDS = 5
#: the longest search run, in multiples of ``duration_seconds``: rates so low that 459 queries take longer
#: than this are not tried
LONGEST_RUN = 4.0


def scenario_results(spec: LoadSpec, status: Status = Status.OK, reason: str = "") -> list[BatchResult]:
    """The results a model has in a scenario cell, in row order (empty values), each with its metrics."""
    if spec.scenario == "offline":
        return [BatchResult(spec.max_batch, status, reason, metrics=OFFLINE_METRICS)]
    return [BatchResult(spec.max_batch, status, reason, target_qps=q, metrics=RATE_METRICS) for q in spec.qps] + \
        [BatchResult(spec.max_batch, status, reason, metrics=CAPACITY_METRICS)]


def tail(outcome: LoadOutcome) -> np.ndarray:
    """Each query's latency (ms), a dropped one as infinitely late."""
    return np.where(np.isnan(outcome.latency_ms), math.inf, outcome.latency_ms)


def p99(outcome: LoadOutcome) -> float:
    """The run's p99 latency: an order statistic (inverted CDF), so a dropped query can be it (inf)."""
    return float(np.quantile(tail(outcome), 0.99, method="inverted_cdf"))


def within_slo(outcome: LoadOutcome, slo_ms: float) -> bool:
    return p99(outcome) <= slo_ms


def put_rate(result: BatchResult, outcome: LoadOutcome, slo_ms: float) -> None:
    """One target rate's row values from its run (n: the queries of the run)."""
    n, latencies = len(outcome.latency_ms), tail(outcome)
    served = outcome.latency_ms[~np.isnan(outcome.latency_ms)]
    dropped = "over 1% of the queries were not served before the run gave up (dropped)"
    for name, q in (("latency_p50_ms", 0.5), ("latency_p90_ms", 0.9), ("latency_p99_ms", 0.99)):
        value = float(np.quantile(latencies, q, method="inverted_cdf"))
        result.put(name, value if math.isfinite(value) else None, n=n, reason=dropped)
    result.put("latency_mean_ms", float(served.mean()) if len(served) else None, n=len(served),
               reason="no query was served")
    result.put("achieved_qps", len(served) / outcome.span_seconds if outcome.span_seconds > 0 else None, n=n,
               reason="no query was served")
    result.put("mean_batch_size", float(np.mean(outcome.batches)) if outcome.batches else None, n=len(outcome.batches),
               reason="no batch was served")
    result.put("late_share", float(np.mean(latencies > slo_ms)), n=n)
    result.put("dropped_share", float(np.mean(np.isnan(outcome.latency_ms))), n=n)


class CapacitySearch:
    """The highest rate whose p99 stays within the SLO: a ladder, then bisection, then a confirming repeat.

    The ladder doubles the rate from ``start`` until a run misses the SLO
    (halving instead while the first rates miss it, down to ``lowest``).
    Bisection (geometric) then narrows [highest pass, lowest miss] until
    their ratio is at most ``1 + tolerance``, and the highest pass is run once
    more. A miss is believed over any pass above it (a slow phase can fail a
    rate, and a lucky run pass one): a repeat that misses becomes the upper
    end, and the search goes on below it. ``max_runs`` caps the runs; the
    bracket so far is reported, unconfirmed. Runs made before the search (the
    scenario's fixed rates) are evidence too: :meth:`record` them with
    ``counted=False``. The answer's interval is the bracket.

    >>> search = CapacitySearch(100.0, tolerance=0.1)
    >>> while (rate := search.next_rate()) is not None:
    ...     search.record(rate, rate <= 333.0)
    >>> round(search.low, 1), round(search.high, 1), search.runs, search.confirmed
    (308.4, 336.4, 7, True)
    """

    def __init__(self, start: float, *, tolerance: float = 0.1, lowest: float = 0.0, max_runs: int = 16):
        self.start, self.tolerance, self.lowest, self.max_runs = start, tolerance, lowest, max_runs
        self.low: float | None = None  # highest rate that passed (below every miss)
        self.high: float | None = None  # lowest rate that missed
        self.passed: list[float] = []
        self.runs = 0
        self.confirmed = False  # the highest pass passed again
        self.stopped = ""  # why the search ended without a confirmed answer
        #: every run it knows of: (rate, passed, counted as a search run, its p99 in ms: inf for a run that
        #: gave up once over 1% of it was late)
        self.trail: list[tuple[float, bool, bool, float]] = []

    def next_rate(self) -> float | None:
        if self.confirmed or self.stopped:
            return None
        if self.runs >= self.max_runs:
            self.stopped = f"stopped after {self.runs} runs: the bracket so far is reported, unconfirmed"
            return None
        if self.low is None:
            rate = self.start if self.high is None else min(self.start, self.high / 2)
            if rate < self.lowest:
                self.stopped = (f"the p99 is over the SLO even at {self.high:.4g} queries/s" if self.high is not None
                                else f"the start, {rate:.4g} queries/s, is under the lowest rate ({self.lowest:.4g})")
                return None
            return rate
        if self.high is None:
            return self.low * 2
        if self.high / self.low > 1 + self.tolerance:
            return math.sqrt(self.low * self.high)
        return self.low  # the confirming repeat

    def record(self, rate: float, passed: bool, *, counted: bool = True, p99_ms: float = math.nan) -> None:
        repeat = counted and self.low is not None and self.high is not None and rate == self.low and \
            self.high / self.low <= 1 + self.tolerance
        self.runs += counted
        self.trail.append((rate, passed, counted, p99_ms))
        if passed:
            self.passed.append(rate)
            if repeat:
                self.confirmed = True
            elif self.high is None or rate < self.high:
                self.low = rate if self.low is None else max(self.low, rate)
            return
        self.high = rate if self.high is None else min(self.high, rate)
        if self.low is not None and self.low >= self.high:  # a miss at or below the highest pass outweighs it
            lower = [p for p in self.passed if p < self.high]
            self.low = max(lower) if lower else None

    def summary(self) -> dict[str, Any]:
        """The search as the manifest keeps it: every run (rate, passed, whether the search made it), the answer."""
        return {"low": self.low, "high": self.high, "confirmed": self.confirmed, "stopped": self.stopped or None,
                "runs": [{"qps": rate, "passed": passed, "search": counted, "p99_ms": p if math.isfinite(p) else None}
                         for rate, passed, counted, p in self.trail]}

    def put(self, result: BatchResult) -> None:
        if self.low is None:
            result.put("max_qps_at_slo", None, reason=self.stopped or "no rate was tried")
            return
        high = self.high if self.high is not None else math.nan
        result.put("max_qps_at_slo", self.low, (self.low, high), n=self.runs)


@dataclass
class Served:
    """One model's scenario cell as it is measured: its results, and its runs' loads and lateness."""

    results: list[BatchResult]
    lateness_ms: list[np.ndarray] = field(default_factory=list)
    busy_seconds: float = 0.0
    queries: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    #: the fixed target rates served so far: (rate, whether its p99 was within the SLO, that p99)
    fixed: list[tuple[float, bool, float]] = field(default_factory=list)
    #: the capacity search as the manifest keeps it (CapacitySearch.summary)
    search: dict[str, Any] | None = None

    def add(self, outcome: LoadOutcome) -> None:
        self.lateness_ms.append(outcome.lateness_ms)
        self.busy_seconds += outcome.busy_seconds
        self.queries += sum(outcome.batches)
        self.latencies_ms += outcome.latency_ms[~np.isnan(outcome.latency_ms)].tolist()

    def service_rate(self) -> float:
        """Queries served per busy second so far (the batches it ran), 0 before any."""
        return self.queries / self.busy_seconds if self.busy_seconds > 0 else 0.0

    def lateness(self) -> dict[str, Any]:
        late = np.concatenate(self.lateness_ms) if self.lateness_ms else np.empty(0)
        median_latency = float(np.median(self.latencies_ms)) if self.latencies_ms else math.nan
        if not len(late):
            return {"sleeps": 0, "p50_ms": None, "p99_ms": None, "max_ms": None,
                    "median_latency_ms": median_latency}
        return {"sleeps": int(len(late)), "p50_ms": float(np.median(late)), "p99_ms": float(np.quantile(late, 0.99)),
                "max_ms": float(late.max()), "median_latency_ms": median_latency}


def measure_cell(request: CellRequest, models: Mapping[str, nn.Module | tuple[str, bytes]],
                 reference: str | None = None, *, twin: bool = False) -> GroupResult:
    """Measure one cell's models (label -> module or payload), each in its own fresh process: closed-loop
    paired rounds (:func:`~harness.measure.paired.measure_group`) or, in a scenario cell, open-loop load.
    A scenario cell has no A/A twin (the noise floor is a closed-loop measurement)."""
    if request.load is None:
        return measure_group(request, models, reference, twin=twin)
    players = [Contestant(label, m if isinstance(m, tuple) else to_payload(m), request) for label, m in models.items()]
    return serve_players(players, request, reference)


def serve_players(players: Sequence[Player], request: CellRequest, reference: str | None) -> GroupResult:
    """Start every player, take them through the cell's scenario, close them all."""
    assert request.load is not None
    try:
        setups = {p.label: start_player(p, request) for p in players}
        return measure_scenario(players, request.load, reference, setups)
    finally:
        close_all(players)


def measure_scenario(players: Sequence[Player], spec: LoadSpec, reference: str | None,
                     setups: dict[str, tuple[int | None, dict[int, BatchResult]]]) -> GroupResult:
    """Every player (started: ``setups``) through the cell's scenario; see the module's docstring."""
    served: dict[str, Served] = {}
    for player in players:
        threads, ready = setups[player.label]
        failed = next((r for r in ready.values() if r.status != Status.OK), None)
        served[player.label] = Served(scenario_results(spec, failed.status, failed.error) if failed else
                                      scenario_results(spec))
    live = [p for p in players if served[p.label].results[0].status == Status.OK]
    rng = np.random.default_rng(spec.seed)
    if spec.scenario == "offline":
        _offline(live, served, spec, rng)
    else:
        _server(live, served, spec, rng)
        _capacity(live, served, spec, rng, reference)
    lateness = [{"model": label, **s.lateness(), "capacity_search": s.search} for label, s in served.items()
                if s.lateness_ms] if spec.scenario == "server" else []  # offline sleeps only before its queries
    return GroupResult({label: (setups[label][0], s.results) for label, s in served.items()}, [], lateness)


def _run(player: Player, run: LoadRun, served: Served) -> LoadOutcome | None:
    """One run of ``player``; None (its results failed, with the reason) if the run or the process failed."""
    try:
        status, reply = player.load(run)
    except WorkerFailed as exc:
        status, reply = "failed", (Status.ERROR, f"measurement process failed: {exc}")
    if status != "ok":
        for result in served.results:
            if result.status == Status.OK:
                result.status, result.error = Status(reply[0]), str(reply[1])
        return None
    served.add(reply)
    return reply


def _alive(served: Served) -> bool:
    return served.results[0].status == Status.OK


def _offline(players: Sequence[Player], served: dict[str, Served], spec: LoadSpec, rng: np.random.Generator) -> None:
    run = LoadRun(np.zeros(spec.queries), spec.max_batch, drain_seconds=math.inf)
    seconds: dict[str, list[float]] = {p.label: [] for p in players}
    for _ in range(OFFLINE_ROUNDS):
        for index in rng.permutation(len(players)):
            player = players[index]
            if _alive(served[player.label]) and (outcome := _run(player, run, served[player.label])):
                seconds[player.label].append(outcome.span_seconds)
    for player in players:
        result, spans = served[player.label].results[0], seconds[player.label]
        if _alive(served[player.label]) and spans:
            total = float(np.median(spans))
            result.put("offline_seconds", total, n=len(spans))
            result.put("throughput_sps", spec.queries / total, n=len(spans))


def rate_run(spec: LoadSpec, rate: float, *, search: bool) -> LoadRun:
    """A run at ``rate``: ``duration_seconds`` of arrivals, or longer to hold :func:`min_queries`; a search
    run gives up once over 1% of it is late, a fixed rate drains for up to ``duration_seconds`` more."""
    count = max(min_queries(), round(rate * spec.duration_seconds))
    arrivals = schedule(rate, count, spec.arrival, spec.seed)
    slo = spec.slo_p99_ms
    if search:
        return LoadRun(arrivals, spec.max_batch, spec.batch_timeout_ms / 1000.0, max(1.0, 4 * slo / 1000.0), slo,
                       abort_after_late=count // 100 + 1)
    return LoadRun(arrivals, spec.max_batch, spec.batch_timeout_ms / 1000.0, max(2.0, spec.duration_seconds), slo)


def _server(players: Sequence[Player], served: dict[str, Served], spec: LoadSpec, rng: np.random.Generator) -> None:
    for position, rate in enumerate(spec.qps):
        for index in rng.permutation(len(players)):
            mine = served[players[index].label]
            if _alive(mine) and (outcome := _run(players[index], rate_run(spec, rate, search=False), mine)):
                put_rate(mine.results[position], outcome, spec.slo_p99_ms)
                mine.fixed.append((rate, within_slo(outcome, spec.slo_p99_ms), p99(outcome)))


def _capacity(players: Sequence[Player], served: dict[str, Served], spec: LoadSpec, rng: np.random.Generator,
              reference: str | None) -> None:
    if not spec.search:
        for s in served.values():
            s.results[-1].put("max_qps_at_slo", None, reason="the capacity search is off (search: false)")
            s.results[-1].put("capacity_vs_teacher", None, reason="the capacity search is off (search: false)")
        return
    lowest = min_queries() / (LONGEST_RUN * spec.duration_seconds)
    searches = {p.label: CapacitySearch(max(lowest, 0.5 * served[p.label].service_rate()),
                                        tolerance=spec.search_tolerance, lowest=lowest)
                for p in players if _alive(served[p.label])}
    for label, search in searches.items():  # the fixed rates' runs are evidence too
        for fixed_rate, passed, fixed_p99 in served[label].fixed:
            search.record(fixed_rate, passed, counted=False, p99_ms=fixed_p99)
    while True:
        steps = [(p, rate) for p in players if p.label in searches and _alive(served[p.label])
                 and (rate := searches[p.label].next_rate()) is not None]
        if not steps:
            break
        for index in rng.permutation(len(steps)):
            player, rate = steps[index]
            outcome = _run(player, rate_run(spec, rate, search=True), served[player.label])
            if outcome is not None:
                searches[player.label].record(rate, within_slo(outcome, spec.slo_p99_ms), p99_ms=p99(outcome))
    for label, search in searches.items():
        served[label].search = search.summary()
        if _alive(served[label]):
            search.put(served[label].results[-1])
    _capacity_ratios(served, searches, reference)


def _capacity_ratios(served: dict[str, Served], searches: dict[str, CapacitySearch], reference: str | None) -> None:
    """Each model's max_qps_at_slo over the teacher's, with the ratio of the brackets' ends as its interval."""
    teacher = searches.get(reference or "")
    for label, s in served.items():
        result = s.results[-1]
        if result.status != Status.OK:
            continue
        mine = searches.get(label)
        if teacher is None or teacher.low is None or mine is None or mine.low is None:
            why = "the teacher is not served in this cell" if reference is None else \
                "no max_qps_at_slo for " + ("the teacher" if teacher is None or teacher.low is None else "this model")
            result.put("capacity_vs_teacher", None, reason=why)
            continue
        t_high = teacher.high if teacher.high is not None else math.nan
        m_high = mine.high if mine.high is not None else math.nan
        result.put("capacity_vs_teacher", mine.low / teacher.low, (mine.low / t_high, m_high / teacher.low),
                   n=mine.runs)


class LoadLog:
    """What the server scenario's runs did, per model and cell: how late the load generator woke (against the
    latencies it measured) and each capacity search's runs. ``summary()`` is the manifest's ``loadgen`` (None
    without a server cell)."""

    METHOD = ("each sleep of the server loop (until the next arrival, or until a batch's timeout): its actual "
              "wake-up minus the time it slept until; it adds to the latency of the queries it delayed")

    def __init__(self) -> None:
        self.cells: list[dict[str, Any]] = []

    def add(self, columns: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        self.cells += [{**columns, **entry} for entry in entries]

    def summary(self) -> dict[str, Any] | None:
        if not self.cells:
            return None
        known = [c for c in self.cells if c["p99_ms"] is not None]
        worst = max(known, key=lambda c: c["p99_ms"] / c["median_latency_ms"], default=None) \
            if all(c["median_latency_ms"] for c in known) else None
        share = None if worst is None else round(worst["p99_ms"] / worst["median_latency_ms"], 4)
        return {"p99_ms": max((c["p99_ms"] for c in known), default=None), "p99_over_median_latency": share,
                "method": self.METHOD, "cells": self.cells}
