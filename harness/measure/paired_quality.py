"""Paired tests of quality: a student against its baseline on the same test examples, and calibration.

Every model of a run is scored on *the same* test examples, so a student and
its baseline form pairs: on most examples both are right or both wrong, and
only the discordant ones say anything about which is better. Paired tests use
that and have far more power than comparing two intervals:

- :func:`mcnemar`: the exact McNemar test, a two-sided binomial test on the
  discordant pairs (``b``: the student right and the baseline wrong, ``c``:
  the reverse); H0: b and c are equally likely.
- :func:`paired_gain`: the student's accuracy minus the baseline's, with a
  percentile bootstrap 95% interval that resamples test *examples* (the same
  resample for both models, so the pairing is kept).
- :func:`paired_accuracy`: several seeds on either side. The unit is still
  the test example, counted once: seeds repeat a training procedure on the
  same examples and are not new data (pooling (seed, example) pairs would
  count each example once per seed, and the teacher's one seed once per
  student seed). Each side's correctness is averaged over its distinct seeds
  per example and the examples' differences are tested by the exact
  sign-flip permutation test, which is McNemar's with one seed a side.
- :func:`holm`: Holm's step-down adjustment of the p-values of a run's
  students, so that "clearly better" holds for all of them together at 5%.
- :func:`ece`: expected calibration error, 15 equal-width confidence bins,
  with a bootstrap interval over examples.

>>> import numpy as np
>>> student = np.array([1, 1, 1, 1, 0, 1], dtype=bool)
>>> base = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
>>> t = mcnemar(student[None], base[None])
>>> (t.b, t.c, t.p)
(3, 0, 0.25)
>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.measure.quality import BOOTSTRAP_RESAMPLES, Estimate
from harness.measure.stats import PERCENTILES_95

ECE_BINS = 15


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs and the exact two-sided p-value."""

    b: int  # the student right, the baseline wrong
    c: int  # the student wrong, the baseline right
    p: float

    @property
    def n(self) -> int:
        return self.b + self.c


def _pairs(student: np.ndarray, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as (seeds, examples) boolean arrays of the same shape."""
    s, b = np.atleast_2d(np.asarray(student, dtype=bool)), np.atleast_2d(np.asarray(baseline, dtype=bool))
    if s.shape != b.shape or s.size == 0:
        raise ValueError(f"paired correctness must have one shape (seeds, examples): {s.shape} vs {b.shape}")
    return s, b


def mcnemar(student: np.ndarray, baseline: np.ndarray) -> McNemar:
    """The exact McNemar test of two models' correctness on the same examples, one seed each:
    p = min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2); 1 when no pair is discordant. Several seeds
    are :func:`paired_accuracy`'s: pooling (seed, example) pairs would count each example once per seed."""
    s, base = _pairs(student, baseline)
    if s.shape[0] > 1:
        raise ValueError(f"McNemar pairs one seed against one seed ({s.shape[0]} given): use paired_accuracy")
    b, c = int((s & ~base).sum()), int((~s & base).sum())
    n = b + c
    p = 1.0 if n == 0 else min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
    return McNemar(b, c, p)


def paired_gain(student: np.ndarray, baseline: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = 0) -> Estimate:
    """The gain of :func:`paired_accuracy` alone: accuracy of the student minus the baseline's, each the mean over
    its own seeds, with its 95% interval; ``n`` is the number of examples."""
    return paired_accuracy(student, baseline, resamples, seed).gain


@dataclass(frozen=True)
class PairedAccuracy:
    """A student against a baseline on the same test examples; the test example is the unit.

    ``gain``: the mean over examples of ``d_i``, the student's correctness on
    example ``i`` averaged over its seeds minus the baseline's averaged over its
    own, with a 95% interval. ``b``/``c``: the examples' worth of evidence for
    and against the student (the sums of the positive and negative ``d_i``;
    with one seed a side, McNemar's discordant counts). ``p_better``/``p_worse``:
    one-sided p-values, ``p`` two-sided. ``test`` names what decided them.
    """

    gain: Estimate
    b: float
    c: float
    p_better: float
    p_worse: float
    seeds: tuple[int, int]  # distinct prediction vectors of the student and of the baseline
    test: str
    discordant: int  # the examples on which the two sides' mean correctness differs

    @property
    def p(self) -> float:
        """Two-sided: twice the smaller one-sided p, at most 1 (the sign-flip distribution is symmetric)."""
        return min(1.0, 2.0 * min(self.p_better, self.p_worse))


#: above this many (discordant examples x support width) the sign-flip distribution is drawn, not convolved
EXACT_WORK = 20_000_000
SIGN_FLIPS = 200_000


def _distinct(x: np.ndarray) -> np.ndarray:
    """The distinct rows of a (seeds, examples) array: identical predictions (a cached model rerun, a deterministic
    method's seeds) are one observation, not several."""
    return np.unique(x, axis=0) if x.shape[0] > 1 else x


def _sign_flip(k: np.ndarray, observed: int, seed: int) -> tuple[float, float, str]:
    """P(T >= observed), P(T <= observed) for T = sum of e_i * k_i, e_i independent signs (+1 or -1 with
    probability 1/2): the exact permutation distribution of the sum of the examples' differences under H0 (each
    example's difference is as likely to go either way). Exact by convolution; a single distinct ``k`` is the
    binomial (McNemar); beyond :data:`EXACT_WORK` it is drawn (seeded, with the +1 correction)."""
    k = k[k > 0]
    if k.size == 0:
        return 1.0, 1.0, "exact"
    values = np.unique(k)
    if values.size == 1:  # T = v * (2X - n), X ~ Binomial(n, 1/2): the exact McNemar test
        n, wins = int(k.size), (observed // int(values[0]) + int(k.size)) // 2
        return float(stats.binom.sf(wins - 1, n, 0.5)), float(stats.binom.cdf(wins, n, 0.5)), "exact"
    total = int(k.sum())
    if k.size * (2 * total + 1) <= EXACT_WORK:
        pmf = np.zeros(2 * total + 1)
        pmf[total] = 1.0  # index = T + total
        for v in values:
            m = int((k == v).sum())
            weights = stats.binom.pmf(np.arange(m + 1), m, 0.5)
            step = np.zeros_like(pmf)
            for x, w in enumerate(weights):  # the group adds v * (2x - m)
                shift = int(v) * (2 * x - m)
                if shift >= 0:
                    step[shift:] += w * pmf[:pmf.size - shift]
                else:
                    step[:shift] += w * pmf[-shift:]
            pmf = step
        at = observed + total
        return float(min(1.0, pmf[at:].sum())), float(min(1.0, pmf[:at + 1].sum())), "exact"
    rng = np.random.default_rng(seed)
    draws = np.empty(SIGN_FLIPS)
    for start in range(0, SIGN_FLIPS, 1000):
        signs = rng.integers(0, 2, size=(min(1000, SIGN_FLIPS - start), k.size)) * 2 - 1
        draws[start:start + signs.shape[0]] = signs @ k
    return ((1 + float((draws >= observed).sum())) / (SIGN_FLIPS + 1),
            (1 + float((draws <= observed).sum())) / (SIGN_FLIPS + 1), f"{SIGN_FLIPS} random sign flips")


def _bootstrap(s: np.ndarray, base: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Replicates of the gain: each draws the seeds of each side with replacement (only where a side has several),
    then the examples (the same draw for both sides, so the pairing is kept)."""
    n = s.shape[1]
    means = []
    for side in (s, base):
        if side.shape[0] == 1:
            means.append(np.broadcast_to(side.astype(np.float64), (resamples, n)))
            continue
        counts = np.stack([np.bincount(row, minlength=side.shape[0])
                           for row in rng.integers(0, side.shape[0], size=(resamples, side.shape[0]))])
        means.append(counts @ side.astype(np.float64) / side.shape[0])
    diff = means[0] - means[1]  # (resamples, examples)
    picks = rng.integers(0, n, size=(resamples, n))
    return np.take_along_axis(diff, picks, axis=1).mean(axis=1)


def paired_accuracy(student: np.ndarray, baseline: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = 0) -> PairedAccuracy:
    """A student's accuracy against a baseline's on the same examples, (seeds, examples) each; each example
    counts once, whatever the number of seeds.

    - ``d_i``: on example ``i``, the student's correctness averaged over its
      distinct seeds minus the baseline's averaged over its own (seeds that
      predict identically, as a deterministic method's do, count once);
    - the test: the exact sign-flip permutation test of ``sum d_i`` over the
      examples (H0: each example's difference is as likely to go either way).
      With one seed a side, ``d_i`` is -1, 0 or +1 and this *is* the exact
      McNemar test;
    - where both sides have several distinct seeds, seed-to-seed variance
      counts as well: each one-sided p is the larger of the sign-flip test's
      and a z test of the gain over its standard error from a hierarchical
      bootstrap (seeds of each side, then examples);
    - the interval: a percentile bootstrap over examples (hierarchical, seeds
      then examples, where a side has several seeds); where that degenerates
      (no example differs) the exact Clopper-Pearson 95% bound on the share of
      examples that could differ, on either side of 0.

    >>> s = np.array([1, 1, 1, 1, 0, 1], dtype=bool)
    >>> b = np.array([1, 0, 0, 0, 0, 1], dtype=bool)
    >>> found = paired_accuracy(s, b)
    >>> (found.b, found.c, found.p) == (3, 0, mcnemar(s, b).p)
    True
    >>> paired_accuracy(np.stack([s] * 5), b).p == found.p  # five identical seeds: no new evidence
    True
    """
    s, base = (_distinct(np.atleast_2d(np.asarray(x, dtype=bool))) for x in (student, baseline))
    if s.shape[1] != base.shape[1] or s.size == 0 or base.size == 0:
        raise ValueError(f"paired correctness must have one number of examples: {s.shape} vs {base.shape}")
    n_s, n_b = s.shape[0], base.shape[0]
    scaled = s.sum(axis=0).astype(np.int64) * n_b - base.sum(axis=0).astype(np.int64) * n_s  # d_i * n_s * n_b
    divisor = int(np.gcd.reduce(np.abs(scaled))) or 1
    k = scaled // divisor
    p_better, p_worse, how = _sign_flip(np.abs(k), int(k.sum()), seed)
    d = scaled / float(n_s * n_b)
    rng = np.random.default_rng(seed)
    replicates = _bootstrap(s, base, resamples, rng) if (n_s > 1 or n_b > 1) else \
        d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    spread = float(replicates.std(ddof=1))
    if n_s > 1 and n_b > 1 and spread > 0:  # seeds vary on both sides: their variance counts too
        z = float(d.mean()) / spread  # the gain over its standard error from the bootstrap over seeds then examples
        p_better, p_worse = max(p_better, float(stats.norm.sf(z))), max(p_worse, float(stats.norm.cdf(z)))
        how = f"sign-flip over examples ({how}) and a bootstrap over seeds then examples"
    else:
        how = "exact McNemar" if n_s == n_b == 1 else f"sign-flip permutation over examples ({how})"
    low, high = (float(v) for v in np.percentile(replicates, PERCENTILES_95))
    if high - low <= 0:  # no example differs in any replicate: no bootstrap can show the spread
        upper = float(stats.beta.ppf(0.975, 1, d.size))  # Clopper-Pearson upper end for 0 of n
        low, high = float(d.mean()) - upper, float(d.mean()) + upper
    gain = Estimate(float(d.mean()), low, high, int(d.size))
    b, c = (float(abs(scaled[side].sum())) / (n_s * n_b) for side in (scaled > 0, scaled < 0))
    return PairedAccuracy(gain, b, c, p_better, p_worse, (n_s, n_b), how, int(np.count_nonzero(d)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest is multiplied by (m - i),
    then made non-decreasing and capped at 1."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width confidence bin ``((k-1)/bins, k/bins]``: (count, mean confidence, accuracy); an empty
    bin has NaN means. A confidence of exactly 0 falls in the first bin."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return count, mean_conf, accuracy


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    count, mean_conf, accuracy = calibration_bins(confidence, correct, bins)
    filled = count > 0
    return float((count[filled] / count.sum() * np.abs(accuracy[filled] - mean_conf[filled])).sum())


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS, resamples: int = BOOTSTRAP_RESAMPLES,
        seed: int = 0) -> Estimate:
    """Expected calibration error: sum over bins of (share of examples) * |accuracy - mean confidence|, where
    confidence is the top class's probability; with a percentile bootstrap 95% interval over examples."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, confidence.size, size=(resamples, confidence.size))
    values = [_ece(confidence[p], correct[p], bins) for p in picks]
    low, high = np.percentile(values, PERCENTILES_95)
    return Estimate(_ece(confidence, correct, bins), float(low), float(high), int(confidence.size))
