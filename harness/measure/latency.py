"""Forward-pass latency: raw samples first, statistics derived from them.

:func:`time_forward` returns the raw per-iteration latencies (ms), so any
statistic can be recomputed later; :func:`summarize` derives percentiles, the
median's confidence interval and a noise flag from them.

>>> import torch
>>> model = torch.nn.Linear(8, 4).eval()
>>> samples = time_forward(model, torch.randn(2, 8), LatencySettings(min_iters=10, max_seconds=0.5))
>>> stats = summarize(samples, batch_size=2)
>>> stats.n == len(samples) >= 3 and stats.ci_low_ms <= stats.p50_ms <= stats.ci_high_ms
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor, nn

#: however short max_seconds is, a timing keeps at least this many samples.
MIN_SAMPLES = 3
#: after min_iters, the stopping rule is re-checked once n has grown by this
#: factor or by CHECK_EVERY samples, whichever is more (never every iteration).
CHECK_GROWTH = 1.25
CHECK_EVERY = 16
NOISY_IQR_OVER_MEDIAN = 0.10


@dataclass(frozen=True)
class LatencySettings:
    """How long to warm up and when to stop timing.

    Warm-up runs at least ``warmup_iters`` forwards and for at least
    ``warmup_seconds``. Timing stops once at least ``min_iters`` samples are
    in and the 95% CI of the median has a relative half-width
    ``(high - low) / 2 / median <= target_ci``; or, regardless, once
    ``max_seconds`` of timing have elapsed (with at least 3 samples).
    """

    warmup_seconds: float = 0.05
    warmup_iters: int = 5
    min_iters: int = 30
    max_seconds: float = 2.0
    target_ci: float = 0.02

    def __post_init__(self) -> None:
        if self.warmup_seconds < 0 or self.warmup_iters < 0:
            raise ValueError("warm-up seconds and iterations must be >= 0")
        if self.min_iters < 1 or self.max_seconds <= 0 or self.target_ci < 0:
            raise ValueError("min_iters must be >= 1, max_seconds > 0 and target_ci >= 0")


@dataclass(frozen=True)
class LatencyStats:
    """Statistics of one cell's latency samples (all times in ms)."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    ci_low_ms: float
    ci_high_ms: float
    iqr_over_median: float
    noisy: bool
    throughput_sps: float


def median_ci(samples: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the median, from order statistics.

    With the samples sorted as x(1) <= ... <= x(n) (1-based ranks), the
    interval is [x(j), x(k)] with

        j = floor(n/2 - z*sqrt(n)/2),   k = ceil(n/2 + 1 + z*sqrt(n)/2),

    both clamped to [1, n], where z is the two-sided normal quantile of
    ``confidence``. These are the normal approximation to the binomial ranks
    (Conover, Practical Nonparametric Statistics), rounded outwards, so the
    interval is symmetric in rank (j + k = n + 1) and its coverage is at least
    nominal. The bounds are sample values, never interpolated.

    >>> median_ci(list(range(1, 102)))
    (40.0, 62.0)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    n = ordered.size
    if n == 0:
        raise ValueError("median_ci needs at least one sample")
    z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
    half_width = z * math.sqrt(n) / 2.0
    j = min(max(math.floor(n / 2 - half_width), 1), n)
    k = min(max(math.ceil(n / 2 + 1 + half_width), 1), n)
    return float(ordered[j - 1]), float(ordered[k - 1])


def _relative_ci_half_width(samples: list[float]) -> float:
    low, high = median_ci(samples)
    median = float(np.median(samples))
    return math.inf if median <= 0 else (high - low) / 2.0 / median


def _timer(example: Tensor):
    """Return a function that runs one forward and returns its latency in ms."""
    if example.device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def time_cuda(model: nn.Module) -> float:
            start.record()
            model(example)
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        return time_cuda

    def time_cpu(model: nn.Module) -> float:
        t0 = time.perf_counter_ns()
        model(example)
        return (time.perf_counter_ns() - t0) / 1e6

    return time_cpu


def _warm_up(model: nn.Module, example: Tensor, settings: LatencySettings) -> None:
    iters, started = 0, time.perf_counter()
    while iters < settings.warmup_iters or time.perf_counter() - started < settings.warmup_seconds:
        model(example)
        iters += 1
    if example.device.type == "cuda":
        torch.cuda.synchronize(example.device)


def time_forward(model: nn.Module, example: Tensor, settings: LatencySettings = LatencySettings()) -> np.ndarray:
    """Time ``model(example)`` repeatedly; return per-iteration latencies in ms (float64).

    ``example`` is used as given (already on the device, already in the
    model's dtype): nothing is built or copied inside the timed region. The
    model is not switched to eval mode here; the caller decides. Everything
    runs under ``torch.inference_mode()``. On CUDA each forward is timed with
    CUDA events and synchronised; on CPU with ``time.perf_counter_ns``. The
    thread count is whatever is set (see :func:`harness.measure.threads.torch_threads`).

    Wall time is about warm-up + ``max_seconds`` + one forward, and at least
    3 forwards are timed even when one forward exceeds ``max_seconds``.
    """
    time_one = _timer(example)
    samples: list[float] = []
    with torch.inference_mode():
        _warm_up(model, example, settings)
        next_check = settings.min_iters
        started = time.perf_counter()
        while True:
            samples.append(time_one(model))
            n = len(samples)
            if n >= MIN_SAMPLES and time.perf_counter() - started >= settings.max_seconds:
                break
            if n >= next_check:
                if _relative_ci_half_width(samples) <= settings.target_ci:
                    break
                next_check = max(math.ceil(n * CHECK_GROWTH), n + CHECK_EVERY)
    return np.asarray(samples, dtype=np.float64)


def summarize(samples_ms: np.ndarray | list[float], batch_size: int) -> LatencyStats:
    """Derive :class:`LatencyStats` from raw latencies (ms) of batches of ``batch_size``.

    Percentiles use NumPy's default (``method="linear"``: linear interpolation
    between the two nearest ranks, as in ``numpy.percentile``). ``std_ms`` is
    the sample standard deviation (ddof=1; 0 for a single sample). The CI is
    :func:`median_ci` at 95%. ``noisy`` is IQR/median > 0.10.
    Throughput is ``batch_size * 1000 / mean_ms`` samples per second.

    >>> s = summarize([1.0, 2.0, 3.0, 4.0, 5.0], batch_size=10)
    >>> s.p50_ms, s.p90_ms, s.mean_ms, s.throughput_sps, s.noisy
    (3.0, 4.6, 3.0, 3333.3333333333335, True)
    """
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("summarize needs at least one sample")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    p25, p50, p75, p90, p99 = (float(v) for v in np.percentile(values, [25, 50, 75, 90, 99]))
    mean = float(values.mean())
    iqr_over_median = (p75 - p25) / p50 if p50 > 0 else math.inf
    low, high = median_ci(values)
    return LatencyStats(
        n=int(values.size),
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        mean_ms=mean,
        std_ms=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        ci_low_ms=low,
        ci_high_ms=high,
        iqr_over_median=iqr_over_median,
        noisy=bool(iqr_over_median > NOISY_IQR_OVER_MEDIAN),
        throughput_sps=batch_size * 1000.0 / mean if mean > 0 else math.inf,
    )
