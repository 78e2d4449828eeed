"""Statistics of a latency cell, derived from its raw samples (numpy and scipy; no torch).

Intervals of a median:

- :func:`median_ci` (order statistics with exact binomial ranks,
  distribution-free): over timing rounds (:func:`round_interval`) it is the
  interval every p50 and ``speedup_vs_teacher`` of paired rounds reports;
- :func:`bootstrap_median_ci` (percentile bootstrap over samples, seeded):
  only for a cell timed in a single window, where no rounds exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats  # at import: median_ci runs inside the timing loop's budget

#: a cell whose spread is above this is flagged noisy: the rounds' spread (:func:`round_spread`); for a run written
#: before it was recorded, the raw samples' IQR/median, which read 0.4-0.6 for nearly every cell of a 2-core VM
NOISY_IQR_OVER_MEDIAN = 0.10
#: the two-sided 95% normal quantile, and the percentiles of a 95% percentile-bootstrap interval: one definition each
Z95 = float(scipy_stats.norm.ppf(0.975))
PERCENTILES_95 = (2.5, 97.5)
#: what a cell's noise is read from, first found first: the rounds' spread, else (older runs) the samples' IQR/median
NOISE_METRICS = ("latency_round_spread", "latency_iqr_over_median")


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


def order_ranks(n: int, confidence: float = 0.95) -> tuple[int, int]:
    """The 1-based ranks ``(j, n + 1 - j)`` of the distribution-free interval of a median from ``n`` values: the
    largest ``j`` whose exact coverage, P(j <= B <= n - j) for B ~ Binomial(n, 1/2), is at least ``confidence``.
    Below 6 values no ``j`` reaches 95%: the interval is then [min, max], covering 1 - 2^(1-n) (5 values: 93.75%,
    4: 87.5%, 3: 75%).

    >>> order_ranks(5), order_ranks(6), order_ranks(8), order_ranks(20), order_ranks(40)
    ((1, 5), (1, 6), (1, 8), (6, 15), (14, 27))
    """
    if n < 1:
        raise ValueError("an interval of the median needs at least one value")
    tail = (1.0 - confidence) / 2.0
    q = int(scipy_stats.binom.ppf(tail, n, 0.5))  # the smallest m with P(B <= m) >= tail
    below = q if scipy_stats.binom.cdf(q, n, 0.5) <= tail else q - 1  # the largest m with P(B <= m) <= tail
    j = max(below + 1, 1)
    return j, n + 1 - j


def coverage(n: int, confidence: float = 0.95) -> float:
    """The exact coverage of :func:`median_ci` for ``n`` independent values of a continuous distribution.

    >>> round(coverage(5), 4), round(coverage(8), 4), coverage(3)
    (0.9375, 0.9922, 0.75)
    """
    j, _ = order_ranks(n, confidence)
    return float(1.0 - 2.0 * scipy_stats.binom.cdf(j - 1, n, 0.5))


def median_ci(samples: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the median, from order statistics.

    With the values sorted as x(1) <= ... <= x(n), the interval is
    [x(j), x(n + 1 - j)] with the ranks of :func:`order_ranks`: the exact
    binomial ranks (Conover, Practical Nonparametric Statistics, 3.6), so for
    independent values of any continuous distribution the coverage is at least
    ``confidence`` from 6 values up. Below that it cannot be: with n values
    the widest interval, [min, max], covers 1 - 2^(1-n) (93.75% at 5 values,
    75% at 3), which :func:`coverage` gives. The bounds are sample values,
    never interpolated.

    >>> median_ci(list(range(1, 102)))
    (41.0, 61.0)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("median_ci needs at least one sample")
    j, k = order_ranks(ordered.size, confidence)
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


def round_spread(medians: np.ndarray | list[float]) -> float:
    """How far the rounds' window medians scatter: their interquartile range over their median (NaN for fewer than
    two rounds). A quiet cell reads a few per cent; one whose windows moved with slow phases of the machine (a
    window median of 0.025 ms in one round and 0.08 ms in the next) reads 0.3 or more. It is what the raw samples'
    IQR/median was meant to show, without the jitter inside a window, which is large for a 0.03 ms forward on any
    machine and made that flag read 0.4-0.6 in nearly every cell.

    >>> round(round_spread([1.0, 1.02, 0.98, 1.01, 0.99]), 6), round_spread([1.0])
    (0.02, nan)
    """
    values = np.asarray(medians, dtype=np.float64)
    if values.size < 2:
        return math.nan
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else math.inf


def round_medians(rounds: list[np.ndarray]) -> np.ndarray:
    """The median of each round's samples."""
    return np.array([float(np.median(r)) for r in rounds])


def round_interval(values: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The 95% interval of a median over timing rounds: :func:`median_ci` of one value per round (each round's
    median for a p50; each round's ratio of medians for :func:`paired_ratio`).

    Samples within one window share the machine's state of that moment (a
    slow phase lasts seconds, a window milliseconds), so the round, not the
    sample, is the independent unit: an interval over samples would claim a
    precision the machine does not hold between windows (docs/measurements.md,
    "Statistics of a latency cell"). The order-statistic interval holds its
    coverage for any distribution of the rounds' values, heavy tails and slow
    phases included, where a percentile bootstrap of the median of 3 to 5
    rounds covered 76-93% (benchmarks/coverage.py measures both).

    >>> round_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    (1.0, 8.0)
    """
    return median_ci(values, confidence)


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


def smallest_rank_p(n1: int, n2: int) -> float:
    """The smallest one-sided p-value a rank test (Mann-Whitney U, exact) can give for ``n1`` against ``n2``
    observations: every one of one side above every one of the other, 1 / C(n1 + n2, n1).

    >>> smallest_rank_p(3, 3), round(smallest_rank_p(5, 5), 5)
    (0.05, 0.00397)
    """
    return 1.0 / math.comb(n1 + n2, n1)


def fewest_rounds(alpha: float) -> int:
    """The fewest rounds a side (as many on each) for which a rank test can reach ``alpha``:
    the smallest n with 1 / C(2n, n) < alpha.

    >>> fewest_rounds(0.05), fewest_rounds(0.01), fewest_rounds(0.001)
    (4, 5, 7)
    """
    n = 1
    while smallest_rank_p(n, n) >= alpha:
        n += 1
    return n
