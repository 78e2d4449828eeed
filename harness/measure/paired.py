"""Paired rounds: the models of one cell timed in alternation over the same stretch of time.

A shared machine has slow phases that last seconds: a bare loop run twice a
minute apart can differ by 40%. Models timed one after another land in
different phases, so their ratio moves from run to run. Here every model of
a cell (the teacher, its students, and a second copy of the teacher for the
A/A noise floor) keeps its own measuring process alive for the whole cell,
and the parent runs rounds: in each round, at each batch size, every model
times one short window, in an order drawn at random for that round (seeded:
``measure.latency.order_seed``; each sample records its round and its
model's place in the order). Only one process runs at a time; the others
block on their pipes. A slow phase then slows a few rounds of every model
alike, which the ratio of medians cancels.

Each window follows a re-warm (:func:`harness.measure.session.rewarm`) whose
forwards are not recorded. A batch size never stops before ``min_rounds``
rounds (a true minimum: the time budget cannot cut it short, so every gate
and interval gets the rounds it was designed for); after that it stops once
every model's median is within ``target_ci`` (95%, from the spread of its
round medians), or once the models' windows add up to ``max_seconds`` each.

From the rounds: each model's p50, the median of its round medians, with
the order-statistic interval over rounds (:func:`harness.measure.stats.round_interval`);
``speedup_vs_teacher``, the median over rounds of each round's ratio of the
teacher's window median to the model's (:func:`harness.measure.stats.paired_ratio`),
with the same interval over the rounds' ratios; and the A/A ratio of the
teacher's two copies, from which the run's noise floor is made (:class:`NoiseFloorLog`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from torch import nn

from harness.measure.batch import BatchResult, put_gpu, put_latency
from harness.measure.gpu import GpuTelemetry, combine_windows
from harness.measure.latency import LatencySettings
from harness.measure.loadgen import LoadRun
from harness.measure.session import CellRequest, Session, to_payload
from harness.measure.stats import Z95, paired_ratio, round_interval, round_medians
from harness.measure.worker import Contestant, WorkerFailed
from harness.rows import Status

SPEEDUP = "speedup_vs_teacher"
#: the label of the teacher's second copy, timed against it for the A/A noise floor ("~" is in no model name)
TWIN_SUFFIX = "~aa"
#: the standard error of a median over that of a mean, for normal data (sqrt(pi / 2))
MEDIAN_EFFICIENCY = 1.2533141373155001
#: the median absolute deviation of normal data times this is its standard deviation
MAD_TO_SD = 1.482602218505602


class Player(Protocol):
    """A model ready to be timed a window at a time: a :class:`~harness.measure.worker.Contestant` (its own
    process) or an :class:`InProcess` session."""

    label: str

    def start(self) -> tuple[int | None, dict[int, BatchResult]]: ...
    def round(self, batch_size: int) -> tuple[str, Any]: ...
    def load(self, run: LoadRun) -> tuple[str, Any]: ...
    def stop(self) -> None: ...
    def close(self, kill: bool = False) -> None: ...


class InProcess:
    """A session in this process (no isolation): the same rounds, for tests and for in-process timing."""

    def __init__(self, label: str, model: nn.Module, request: CellRequest, **session: Any):
        self.label, self._session = label, Session(model, request, **session)

    def start(self) -> tuple[int | None, dict[int, BatchResult]]:
        self._session.__enter__()
        return self._session.threads, self._session.results

    def round(self, batch_size: int) -> tuple[str, Any]:
        try:
            return "ok", self._session.round(batch_size)
        except Exception as exc:
            return "failed", self._session.failure(batch_size, exc)

    def load(self, run: LoadRun) -> tuple[str, Any]:
        try:
            return "ok", self._session.load(run)
        except Exception as exc:
            return "failed", self._session.failure(run.max_batch, exc)

    def stop(self) -> None:
        pass

    def close(self, kill: bool = False) -> None:
        self._session.__exit__(None, None, None)


@dataclass
class Track:
    """One model's windows at one batch size: samples per round, its place in each round, GPU telemetry."""

    windows: list[np.ndarray] = field(default_factory=list)
    #: each window's median, taken once as the window comes in (the stopping rule reads them every round)
    medians: list[float] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    telemetry: list[GpuTelemetry] = field(default_factory=list)
    spent: float = 0.0  # wall seconds of its rounds, re-warm included
    failure: tuple[Status, str] | None = None

    @property
    def live(self) -> bool:
        return self.failure is None

    def pooled(self) -> np.ndarray:
        return np.concatenate(self.windows) if self.windows else np.empty(0)

    def add(self, samples: np.ndarray, slot: int) -> None:
        self.windows.append(samples)
        self.medians.append(float(np.median(samples)))
        self.slots.append(slot)

    def p50(self) -> float:
        """The median of the round medians: the typical window's median (see :func:`round_interval`)."""
        return float(np.median(self.medians))

    def relative_half_width(self) -> float:
        """95% half-width of the median of the round medians, relative to it: normal approximation, with the
        rounds' spread taken robustly (1.4826 x their median absolute deviation), so that one round in a
        slow phase does not hold every model back."""
        medians = np.asarray(self.medians)
        center = float(np.median(medians)) if len(medians) else 0.0
        if len(medians) < 2 or center <= 0:
            return math.inf
        spread = MAD_TO_SD * float(np.median(np.abs(medians - center)))
        return Z95 * MEDIAN_EFFICIENCY * spread / math.sqrt(len(medians)) / center


@dataclass
class GroupResult:
    """What a cell's rounds measured: per label (threads used, results per batch size in request order);
    ``noise``: the A/A ratio per batch size (empty without a twin)."""

    results: dict[str, tuple[int | None, list[BatchResult]]]
    noise: list[dict[str, Any]]
    #: serving scenarios: each model's load-generator lateness (harness.measure.serving.Served.lateness)
    loadgen: list[dict[str, Any]] = field(default_factory=list)


def measure_group(request: CellRequest, models: Mapping[str, nn.Module | tuple[str, bytes]],
                  reference: str | None = None, *, twin: bool = False) -> GroupResult:
    """Time ``models`` (label -> module or payload) in paired rounds, each in its own fresh process.

    ``reference`` labels the teacher: every model's ``speedup_vs_teacher`` is
    against it, and ``twin`` adds a second copy of it for the A/A noise floor
    (its results come back under ``reference + TWIN_SUFFIX``).
    """
    payloads = {label: m if isinstance(m, tuple) else to_payload(m) for label, m in models.items()}
    if twin and reference is not None:
        payloads[reference + TWIN_SUFFIX] = payloads[reference]
    players = [Contestant(label, payload, request) for label, payload in payloads.items()]
    return play(players, request, reference)


def play(players: Sequence[Player], request: CellRequest, reference: str | None) -> GroupResult:
    """Start each player in turn, run the rounds, close every player; see the module's docstring."""
    try:
        setups = {p.label: start_player(p, request) for p in players}
        tracks = {p.label: {b: Track() for b, r in setups[p.label][1].items() if r.status == Status.OK}
                  for p in players}
        _rounds(players, tracks, request)
    finally:
        close_all(players)
    return _results(setups, tracks, request, reference)


def close_all(players: Sequence[Player]) -> None:
    """Tell every process to end first, so that they end together, then wait for each."""
    for player in players:
        player.stop()
    for player in players:
        player.close()


def start_player(player: Player, request: CellRequest) -> tuple[int | None, dict[int, BatchResult]]:
    """The player started: (threads used, what set-up measured per batch size), or every batch size failed."""
    try:
        return player.start()
    except WorkerFailed as exc:  # the process could not start, crashed or hung in set-up
        reason = f"measurement process failed: {exc}"
        return None, {b: BatchResult(b, Status.ERROR, reason) for b in request.batch_sizes}


def _rounds(players: Sequence[Player], tracks: dict[str, dict[int, Track]], request: CellRequest) -> None:
    settings = request.settings
    rng = np.random.default_rng(settings.order_seed)
    active = list(request.batch_sizes)
    rounds = dict.fromkeys(active, 0)
    while active:
        for batch_size in list(active):
            live = [p for p in players if batch_size in tracks[p.label] and tracks[p.label][batch_size].live]
            for slot, index in enumerate(rng.permutation(len(live))):
                died = _window(live[index], batch_size, slot, tracks[live[index].label][batch_size])
                for unfinished in active if died else ():  # the process is gone: what it had not finished fails
                    track = tracks[live[index].label].get(unfinished)
                    if track is not None and track.live:
                        track.failure = (Status.ERROR, f"measurement process failed: {died}")
            rounds[batch_size] += 1
            own = [t[batch_size] for t in tracks.values() if batch_size in t and t[batch_size].live]
            if not own or _finished(own, rounds[batch_size], settings):
                active.remove(batch_size)


def _window(player: Player, batch_size: int, slot: int, track: Track) -> str:
    """Time one window into ``track``; returns why the player's process is gone ("" while it lives)."""
    started = time.perf_counter()
    try:
        status, reply = player.round(batch_size)
    except WorkerFailed as exc:
        return str(exc)
    if status != "ok":  # the pipe's reply, not a row status: the window failed, with (status, reason)
        track.failure = (Status(reply[0]), str(reply[1]))
        return ""
    samples, telemetry = reply
    track.add(np.asarray(samples, dtype=np.float64), slot)
    if telemetry is not None:
        track.telemetry.append(telemetry)
    track.spent += time.perf_counter() - started
    return ""


def _finished(own: list[Track], rounds: int, settings: LatencySettings) -> bool:
    """Enough rounds at this batch size: never before ``min_rounds``; then the models' budget is spent, or each
    model's median is tight."""
    if rounds < settings.min_rounds:
        return False
    if sum(t.spent for t in own) >= settings.max_seconds * len(own):
        return True
    return all(
        sum(len(w) for w in t.windows) >= settings.min_iters and t.relative_half_width() <= settings.target_ci
        for t in own)


def _results(setups: dict[str, tuple[int | None, dict[int, BatchResult]]], tracks: dict[str, dict[int, Track]],
             request: CellRequest, reference: str | None) -> GroupResult:
    out: dict[str, tuple[int | None, list[BatchResult]]] = {}
    for label, (threads, results) in setups.items():
        for batch_size, track in tracks[label].items():
            _timed(results[batch_size], track)
        out[label] = (threads, [results[b] for b in request.batch_sizes])
    noise: list[dict[str, Any]] = []
    for batch_size in request.batch_sizes:
        reference_track = tracks.get(reference or "", {}).get(batch_size)
        for label in setups:
            result = setups[label][1][batch_size]
            if label.endswith(TWIN_SUFFIX):
                if reference_track is not None and result.status == Status.OK:
                    noise.append(_aa(batch_size, reference_track, tracks[label][batch_size]))
                continue
            _speedup(result, label, reference, reference_track, tracks[label].get(batch_size))
    return GroupResult(out, noise)


def _timed(result: BatchResult, track: Track) -> None:
    """The latency (and GPU) results of one model's windows at one batch size."""
    if track.failure is not None or not track.windows:
        result.status, result.error = track.failure or (Status.ERROR, "no window was timed")
        return
    p50 = None
    if len(track.windows) >= 2:
        low, high = round_interval(track.medians)
        p50 = (track.p50(), low, high)
    put_latency(result, track.pooled(), p50, track.medians)
    result.rounds = [r for r, w in enumerate(track.windows) for _ in w]
    result.slots = [s for s, w in zip(track.slots, track.windows, strict=True) for _ in w]
    if track.telemetry:
        put_gpu(result, combine_windows(track.telemetry), "")


def _speedup(result: BatchResult, label: str, reference: str | None, reference_track: Track | None,
             track: Track | None) -> None:
    if result.status != Status.OK:
        return
    if label == reference:
        result.put(SPEEDUP, 1.0, (1.0, 1.0), len(track.windows) if track else None)
        return
    if reference_track is None or not reference_track.live or not reference_track.windows or track is None:
        why = "the teacher is not timed in this cell" if reference is None else \
            f"the teacher ({reference}) has no timing at this batch size in this cell"
        result.put(SPEEDUP, None, reason=why)
        return
    value, ci = track_ratio(reference_track, track)
    result.put(SPEEDUP, value, ci, len(track.windows))


def track_ratio(numerator: Track, denominator: Track) -> tuple[float, tuple[float, float]]:
    """How many times slower ``numerator`` is than ``denominator`` in their shared rounds
    (:func:`harness.measure.stats.paired_ratio`), and its interval resampling those rounds."""
    value = paired_ratio(numerator.windows, denominator.windows)
    if len(numerator.windows) < 2:
        return value, (math.nan, math.nan)
    return value, round_interval(round_ratios(numerator, denominator))


def round_ratios(numerator: Track, denominator: Track) -> np.ndarray:
    """Each shared round's ratio of the two window medians."""
    return round_medians(numerator.windows) / round_medians(denominator.windows)


def _aa(batch_size: int, teacher: Track, twin: Track) -> dict[str, Any]:
    ratio, (low, high) = track_ratio(teacher, twin)
    logs = [float(v) for v in np.log(round_ratios(teacher, twin))]
    return {"batch_size": batch_size, "ratio": ratio, "ci_low": low, "ci_high": high, "rounds": len(teacher.windows),
            "log_ratios": logs}


class NoiseFloorLog:
    """The A/A ratios of a run, cell by cell, and what they add up to: ``summary()`` is the manifest's
    ``noise_floor`` (None when the suite turned it off), which :func:`harness.store.noise_floor` reads.

    The floor is a property of the machine and the design, not of one interval's end: every A/A round of the run
    (the teacher's window median over its copy's, in the same round) is pooled, across batch sizes and cells, and
    the floor is the 95% half-width that a ratio of medians over the design's ``R = min_rounds`` rounds has on
    that spread, plus the A/A ratio's own distance from 1 (a systematic difference between two identical
    processes)::

        pct = 100 * (exp(|median(log r)| + 1.96 * 1.2533 * 1.4826 * MAD(log r) / sqrt(R)) - 1)

    (1.4826 x MAD: the rounds' spread, robust to a slow phase; 1.2533: a median's standard error over a mean's).
    The extreme end of one batch size's interval, which this replaced, swung from 2.6% to 39.2% over seven
    unchanged runs: it is the widest of many small-sample intervals, and took every slow phase at its worst.
    ``R`` is the suite's ``min_rounds``, fixed by the design: the rounds a batch size actually got vary with the
    time budget from run to run (the median of them, used first, moved five idle runs' floors from 1.2% to 3.4%),
    and ``min_rounds`` is the fewest any batch size gets, so the floor is what a gate at the minimum can resolve.
    """

    METHOD = ("A/A: the teacher timed against a second copy of itself (its own process) in the same paired rounds; "
              "every A/A round's log ratio pooled over cells and batch sizes; pct = 100 * (exp(|median| + 1.96 * "
              "1.2533 * 1.4826 * MAD / sqrt(R)) - 1), R the suite's min_rounds")

    def __init__(self, enabled: bool, min_rounds: int):
        self.enabled, self.min_rounds, self.cells = enabled, min_rounds, list[dict[str, Any]]()

    def add(self, columns: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        self.cells += [{**columns, **{k: _finite(v) for k, v in entry.items()}} for entry in entries]

    def summary(self) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        cells = [{k: v for k, v in c.items() if k != "log_ratios"} for c in self.cells]
        logs = np.array([v for c in self.cells for v in c.get("log_ratios") or [] if v is not None], dtype=float)
        if logs.size < 2:
            reason = "the teacher was not timed against its twin in any cell" if not self.cells else \
                "too few rounds for an interval"
            return {"pct": None, "reason": reason, "method": self.METHOD, "cells": cells}
        return {**floor_of(logs, self.min_rounds), "method": self.METHOD, "cells": cells}


def floor_of(log_ratios: np.ndarray, rounds: int) -> dict[str, Any]:
    """The noise floor (see :class:`NoiseFloorLog`) of pooled A/A log ratios, for a design of ``rounds`` rounds, with
    the pooled A/A ratio and its order-statistic 95% interval.

    >>> f = floor_of(np.log([1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.03, 0.97]), rounds=8)
    >>> f["pct"], f["ratio"], f["rounds"]
    (1.941, 1.0, 8)
    """
    center = float(np.median(log_ratios))
    spread = MAD_TO_SD * float(np.median(np.abs(log_ratios - center)))
    half = Z95 * MEDIAN_EFFICIENCY * spread / math.sqrt(max(rounds, 1))
    low, high = round_interval(np.exp(log_ratios))
    return {"pct": round(100.0 * math.expm1(abs(center) + half), 3), "ratio": round(math.exp(center), 4),
            "ci_low": round(low, 4), "ci_high": round(high, 4), "rounds": rounds, "pooled_rounds": int(log_ratios.size),
            "spread": round(spread, 5)}


def _finite(value: Any) -> Any:
    """JSON has no NaN: an unknown number is null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def measure_alone(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                  threads: int | None, settings: LatencySettings, include_h2d: bool = False,
                  timeout: float | None = None, backend: str = "eager", token_range: tuple[int, int] | None = None,
                  isolated: bool = True) -> tuple[int | None, list[BatchResult]]:
    """One model timed alone by the same rounds, in its own fresh process (``isolated``; ``timeout`` applies) or
    in this one: (threads used, results)."""
    request = CellRequest(tuple(input_shape), tuple(batch_sizes), device, threads, settings, include_h2d,
                          timeout if isolated else None, backend, token_range)
    if isolated:
        return measure_group(request, {"model": model}).results["model"]
    return play([InProcess("model", model, request)], request, None).results["model"]
