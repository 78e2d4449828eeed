"""Statistics of a latency cell, derived from its raw samples (numpy only; no torch).

Two intervals of the median, for two jobs:

- :func:`median_ci` (order statistics, distribution-free) costs one sort, so
  the timing loop uses it to decide when to stop;
- :func:`bootstrap_median_ci` (percentile bootstrap, seeded) is the interval
  that is reported, recomputable exactly from the kept samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: a cell whose latency IQR/median is above this is flagged noisy
NOISY_IQR_OVER_MEDIAN = 0.10


@dataclass(frozen=True)
class LatencyStats:
    """Statistics of one cell's latency samples (all times in ms).

    ``ci_low_ms``/``ci_high_ms``: order-statistic 95% CI of the median
    (:func:`median_ci`, what the stopping rule used); ``boot_low_ms``/
    ``boot_high_ms``: percentile-bootstrap 95% CI of the median
    (:func:`bootstrap_median_ci`, the one to report).
    """

    n: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    ci_low_ms: float
    ci_high_ms: float
    boot_low_ms: float
    boot_high_ms: float
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


def bootstrap_median_ci(samples: np.ndarray | list[float], resamples: int = 2000, seed: int = 0,
                        confidence: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median; exact for a given ``seed``.

    Each of ``resamples`` replicates is the median (as ``np.median`` takes it)
    of n values drawn with replacement from the samples; the interval is the
    (1 - confidence)/2 and (1 + confidence)/2 linear percentiles of the
    replicates. A replicate's median is drawn directly rather than by
    building the resample: with the samples sorted, the k-th smallest of n
    indices drawn uniformly with replacement is floor(n * U), where
    U ~ Beta(k, n + 1 - k) is the k-th smallest of n standard uniforms; for
    even n the (k+1)-th is floor(n * V) with V = U + (1 - U) * Beta(1, n - k).
    That is the same distribution as resampling, at O(1) per replicate instead
    of O(n): 100 000 samples cost what 30 do. Random numbers come from
    ``numpy.random.default_rng(seed)``.

    >>> bootstrap_median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
    (3.0, 9.0)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    n = ordered.size
    if n == 0:
        raise ValueError("bootstrap_median_ci needs at least one sample")
    rng = np.random.default_rng(seed)
    k = (n + 1) // 2
    lower = rng.beta(k, n + 1 - k, size=resamples)
    medians = ordered[_rank(lower, n)]
    if n % 2 == 0:
        upper = lower + (1.0 - lower) * rng.beta(1, n - k, size=resamples)
        medians = (medians + ordered[_rank(upper, n)]) / 2.0
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


def _rank(uniform_order_statistic: np.ndarray, n: int) -> np.ndarray:
    """0-based index of the sample a uniform order statistic falls on."""
    return np.minimum((uniform_order_statistic * n).astype(np.int64), n - 1)


def relative_ci_half_width(samples: list[float]) -> float:
    low, high = median_ci(samples)
    median = float(np.median(samples))
    return math.inf if median <= 0 else (high - low) / 2.0 / median


def summarize(samples_ms: np.ndarray | list[float], batch_size: int) -> LatencyStats:
    """Derive :class:`LatencyStats` from raw latencies (ms) of batches of ``batch_size``.

    Percentiles use NumPy's default (``method="linear"``: linear interpolation
    between the two nearest ranks, as in ``numpy.percentile``). ``std_ms`` is
    the sample standard deviation (ddof=1; 0 for a single sample). ``ci_*``
    is :func:`median_ci` at 95%; ``boot_*`` is :func:`bootstrap_median_ci`
    (2000 resamples, seed 0). ``noisy`` is IQR/median > 0.10.
    Throughput is ``batch_size * 1000 / mean_ms`` samples per second.

    >>> s = summarize([1.0, 2.0, 3.0, 4.0, 5.0], batch_size=10)
    >>> s.p50_ms, s.p90_ms, s.p95_ms, s.mean_ms, s.throughput_sps, s.noisy
    (3.0, 4.6, 4.8, 3.0, 3333.3333333333335, True)
    """
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("summarize needs at least one sample")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    p25, p50, p75, p90, p95, p99 = (float(v) for v in np.percentile(values, [25, 50, 75, 90, 95, 99]))
    mean = float(values.mean())
    iqr_over_median = (p75 - p25) / p50 if p50 > 0 else math.inf
    low, high = median_ci(values)
    boot_low, boot_high = bootstrap_median_ci(values)
    return LatencyStats(
        n=int(values.size),
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        mean_ms=mean,
        std_ms=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        ci_low_ms=low,
        ci_high_ms=high,
        boot_low_ms=boot_low,
        boot_high_ms=boot_high,
        iqr_over_median=iqr_over_median,
        noisy=bool(iqr_over_median > NOISY_IQR_OVER_MEDIAN),
        throughput_sps=batch_size * 1000.0 / mean if mean > 0 else math.inf,
    )


def round_medians(rounds: list[np.ndarray]) -> np.ndarray:
    """The median of each round's samples."""
    return np.array([float(np.median(r)) for r in rounds])


def round_bootstrap(rounds: list[np.ndarray], paired: list[np.ndarray] | None = None, resamples: int = 2000,
                    seed: int = 0, confidence: float = 0.95) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """95% intervals of a p50 over timing rounds, resampling whole rounds; and of a paired ratio.

    ``rounds[r]`` holds the samples a model's window of round ``r`` timed; the
    p50 it estimates is the median of the round medians (the typical
    window's median: a minority of rounds caught by a slow phase of the
    machine does not move it). Each replicate draws R rounds with
    replacement and takes the median of their medians; the interval is the
    (1 - confidence)/2 and (1 + confidence)/2 linear percentiles of the
    replicates. Samples within one window share the machine's state of that
    moment (a slow phase lasts seconds, a window milliseconds), so the round,
    not the sample, is the independent unit: an interval over samples would
    claim a precision the machine does not hold between windows
    (docs/measurements.md, "Statistics of a latency cell").

    ``paired[r]``, when given, is another model's window in the same round
    ``r``, and the second interval is of :func:`paired_ratio`, the median over
    rounds of ``median(rounds[r]) / median(paired[r])``, from the same drawn rounds.
    Random numbers come from ``numpy.random.default_rng(seed)``: exact for a seed.

    >>> a = [np.full(5, 1.0), np.full(5, 2.0), np.full(5, 3.0)]
    >>> round_bootstrap(a, [2 * r for r in a])
    ((1.0, 3.0), (0.5, 0.5))
    """
    if len(rounds) < 1 or (paired is not None and len(paired) != len(rounds)):
        raise ValueError("round_bootstrap needs at least one round, and as many paired rounds as rounds")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(rounds), size=(resamples, len(rounds)))
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(np.median(round_medians(rounds)[drawn], axis=1), [tail, 100.0 - tail])
    if paired is None:
        return (float(low), float(high)), None
    ratios = round_medians(rounds) / round_medians(paired)
    ratio_low, ratio_high = np.percentile(np.median(ratios[drawn], axis=1), [tail, 100.0 - tail])
    return (float(low), float(high)), (float(ratio_low), float(ratio_high))


def paired_ratio(rounds: list[np.ndarray], paired: list[np.ndarray]) -> float:
    """The median over rounds of each round's ratio of medians, ``median(rounds[r]) / median(paired[r])``.

    A slow phase that covers a whole round slows both windows of that round
    and leaves its ratio alone; one that starts or ends inside a round makes
    that round's ratio an outlier, which the median over rounds ignores.

    >>> teacher, student = [np.array([v]) for v in (2.0, 4.0, 9.0)], [np.array([v]) for v in (1.0, 2.0, 3.0)]
    >>> paired_ratio(teacher, student)
    2.0
    """
    return float(np.median(round_medians(rounds) / round_medians(paired)))
