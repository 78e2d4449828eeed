"""Forward-pass latency: raw samples first, statistics derived from them.

:func:`time_forward` returns the raw per-iteration latencies (ms), so any
statistic can be recomputed later (:func:`measure_latency` returns them with
what the warm-up did); :func:`summarize` derives percentiles, two confidence
intervals of the median and a noise flag from them.

Two intervals of the median, for two jobs:

- :func:`median_ci` (order statistics, distribution-free) costs one sort, so
  the timing loop uses it to decide when to stop;
- :func:`bootstrap_median_ci` (percentile bootstrap, seeded) is the interval
  that is reported, recomputable exactly from the kept samples.

>>> import torch
>>> model = torch.nn.Linear(8, 4).eval()
>>> samples = time_forward(model, torch.randn(2, 8), LatencySettings(min_iters=10, max_seconds=0.5))
>>> stats = summarize(samples, batch_size=2)
>>> stats.n == len(samples) >= 3 and stats.ci_low_ms <= stats.p50_ms <= stats.ci_high_ms
True
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from harness.measure.stats import (  # noqa: F401  (re-exported: the latency API)
    LatencyStats,
    bootstrap_median_ci,
    median_ci,
    relative_ci_half_width,
    summarize,
)

#: however short max_seconds is, a timing keeps at least this many samples.
MIN_SAMPLES = 3
#: after min_iters, the stopping rule is re-checked once n has grown by this
#: factor or by CHECK_EVERY samples, whichever is more (never every iteration).
CHECK_GROWTH = 1.25
CHECK_EVERY = 16
#: the settling cap of the warm-up when ``warmup_max_seconds`` is not given:
#: max(WARMUP_CAP_MIN_SECONDS, WARMUP_CAP_SHARE * max_seconds).
WARMUP_CAP_MIN_SECONDS = 0.5
WARMUP_CAP_SHARE = 0.25


@dataclass(frozen=True)
class LatencySettings:
    """How long to warm up and when to stop timing.

    Warm-up runs at least ``warmup_iters`` forwards and for at least
    ``warmup_seconds``, then goes on until timings settle: until the median of
    the last ``settle_block`` warm-up forwards is within ``settle_tolerance``
    (relative) of the median of the block before it, checked once per block.
    Settling stops at the cap :attr:`warmup_cap_seconds` of total warm-up
    time (the minimum warm-up always completes). ``settle_block=0`` turns
    settling off; ``warmup_iters=0`` with ``warmup_seconds=0`` turns the
    whole warm-up off.

    Timing stops once at least ``min_iters`` samples are in and the 95% CI of
    the median has a relative half-width ``(high - low) / 2 / median <=
    target_ci``; or, regardless, once ``max_seconds`` of timing have elapsed
    (with at least 3 samples).
    """

    warmup_seconds: float = 0.05
    warmup_iters: int = 5
    min_iters: int = 30
    max_seconds: float = 2.0
    target_ci: float = 0.02
    settle_block: int = 10
    settle_tolerance: float = 0.05
    warmup_max_seconds: float | None = None
    #: paired rounds (:mod:`harness.measure.paired`): each model's timed window per round, the fewest rounds,
    #: the untimed re-warm before every window, and the seed of each round's random order
    round_seconds: float = 0.02
    min_rounds: int = 8
    rewarm_iters: int = 3
    rewarm_seconds: float = 0.002
    order_seed: int = 0

    def __post_init__(self) -> None:
        if self.warmup_seconds < 0 or self.warmup_iters < 0:
            raise ValueError("warm-up seconds and iterations must be >= 0")
        if self.min_iters < 1 or self.max_seconds <= 0 or self.target_ci < 0:
            raise ValueError("min_iters must be >= 1, max_seconds > 0 and target_ci >= 0")
        if self.settle_block < 0 or self.settle_tolerance < 0:
            raise ValueError("settle_block and settle_tolerance must be >= 0")
        if self.warmup_max_seconds is not None and self.warmup_max_seconds < 0:
            raise ValueError("warmup_max_seconds must be >= 0 or None")

    @property
    def warmup_cap_seconds(self) -> float:
        """Total warm-up time after which settling gives up: ``warmup_max_seconds``, or
        max(0.5 s, 25% of ``max_seconds``) when that is None.

        >>> LatencySettings(max_seconds=4.0).warmup_cap_seconds, LatencySettings(max_seconds=0.5).warmup_cap_seconds
        (1.0, 0.5)
        """
        if self.warmup_max_seconds is not None:
            return self.warmup_max_seconds
        return max(WARMUP_CAP_MIN_SECONDS, WARMUP_CAP_SHARE * self.max_seconds)


@dataclass(frozen=True)
class Timing:
    """Raw latencies of one cell and what its warm-up did.

    ``warmup_settled`` is True when the last two warm-up blocks agreed, False
    when the warm-up cap ended settling first, None when settling was off.
    """

    samples_ms: np.ndarray
    warmup_iters: int
    warmup_seconds: float
    warmup_settled: bool | None


def make_timer(model: nn.Module, example: Tensor, host_example: Tensor | None) -> Callable[[], float]:
    """Return a function that runs one forward and returns its latency in ms."""
    if example.device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if host_example is not None:
            device = example.device
            host = host_example if host_example.is_pinned() else host_example.pin_memory()

            def forward() -> object:
                return model(host.to(device, non_blocking=True))
        else:

            def forward() -> object:
                return model(example)

        def time_cuda() -> float:
            start.record()
            forward()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        return time_cuda

    def time_cpu() -> float:
        t0 = time.perf_counter_ns()
        model(example)
        return (time.perf_counter_ns() - t0) / 1e6

    return time_cpu


def _blocks_agree(previous: list[float], last: list[float], tolerance: float) -> bool:
    before, now = statistics.median(previous), statistics.median(last)
    return abs(now - before) <= tolerance * before


def warm_up(time_one: Callable[[], float], settings: LatencySettings) -> tuple[int, float, bool | None]:
    """Run forwards until the minimum warm-up is done and timings settle; see :class:`LatencySettings`."""
    if settings.warmup_iters == 0 and settings.warmup_seconds == 0:
        return 0, 0.0, None
    block = settings.settle_block
    recent: deque[float] = deque(maxlen=2 * block if block else 1)
    iters, checked_at, started = 0, 0, time.perf_counter()
    while True:
        recent.append(time_one())
        iters += 1
        elapsed = time.perf_counter() - started
        if iters < settings.warmup_iters or elapsed < settings.warmup_seconds:
            continue
        if block == 0:
            return iters, elapsed, None
        if iters >= 2 * block and iters - checked_at >= block:
            checked_at = iters
            timings = list(recent)
            if _blocks_agree(timings[:block], timings[block:], settings.settle_tolerance):
                return iters, elapsed, True
        if elapsed >= settings.warmup_cap_seconds:
            return iters, elapsed, False


def measure_latency(model: nn.Module, example: Tensor, settings: LatencySettings = LatencySettings(), *,
                    host_example: Tensor | None = None, window: AbstractContextManager[Any] | None = None) -> Timing:
    """Warm up, then time ``model(example)`` repeatedly; see :func:`time_forward`.

    ``window``, when given, is entered after the warm-up and exited after the
    last timed forward, so it observes exactly the ``len(samples_ms)`` timed
    forwards (e.g. a :class:`harness.measure.gpu.GpuSampler`).
    """
    time_one = make_timer(model, example, host_example)
    samples: list[float] = []
    with torch.inference_mode():
        warm_iters, warm_seconds, settled = warm_up(time_one, settings)
        if example.device.type == "cuda":
            torch.cuda.synchronize(example.device)
        with window if window is not None else nullcontext():
            _timed_loop(time_one, settings, samples)
    return Timing(np.asarray(samples, dtype=np.float64), warm_iters, warm_seconds, settled)


def _timed_loop(time_one: Callable[[], float], settings: LatencySettings, samples: list[float]) -> None:
    next_check = settings.min_iters
    started = time.perf_counter()
    while True:
        samples.append(time_one())
        n = len(samples)
        if n >= MIN_SAMPLES and time.perf_counter() - started >= settings.max_seconds:
            return
        if n >= next_check:
            if relative_ci_half_width(samples) <= settings.target_ci:
                return
            next_check = max(math.ceil(n * CHECK_GROWTH), n + CHECK_EVERY)


def time_forward(model: nn.Module, example: Tensor, settings: LatencySettings = LatencySettings(), *,
                 host_example: Tensor | None = None) -> np.ndarray:
    """Time ``model(example)`` repeatedly; return per-iteration latencies in ms (float64).

    ``example`` is used as given (already on the device, already in the
    model's dtype): nothing is built or copied inside the timed region, unless
    ``host_example`` is given and ``example`` is on CUDA: then each timed
    iteration (and each warm-up one) copies ``host_example`` (a CPU tensor,
    pinned here once if it is not) to ``example``'s device with
    ``non_blocking=True`` and runs the forward on the copy, so the latency
    includes the host-to-device transfer. On CPU ``host_example`` is ignored.
    See :func:`prepare_example`.

    The model is not switched to eval mode here; the caller decides.
    Everything runs under ``torch.inference_mode()``. On CUDA each forward is
    timed with CUDA events and synchronised; on CPU with
    ``time.perf_counter_ns``. The thread count is whatever is set (see
    :func:`harness.measure.threads.torch_threads`).

    Wall time is about warm-up (at most the larger of its minimum and
    ``settings.warmup_cap_seconds``) + ``max_seconds`` + one forward, and at
    least 3 forwards are timed even when one forward exceeds ``max_seconds``.
    """
    return measure_latency(model, example, settings, host_example=host_example).samples_ms


def prepare_example(example: Tensor, device: str | torch.device, dtype: torch.dtype | None = None,
                    include_h2d: bool = False) -> tuple[Tensor, Tensor | None]:
    """``(example on device, host_example or None)`` for :func:`time_forward`.

    ``host_example`` is a pinned CPU copy (in ``dtype``) when ``include_h2d``
    and the device is CUDA; otherwise None, and the copy stays out of the
    timing.

    >>> x, host = prepare_example(torch.zeros(2, 3), "cpu", include_h2d=True)
    >>> x.device.type, host is None
    ('cpu', True)
    """
    device = torch.device(device)
    on_device = example.to(device=device, dtype=dtype)
    if not include_h2d or device.type != "cuda":
        return on_device, None
    return on_device, example.to(dtype=dtype).pin_memory()
