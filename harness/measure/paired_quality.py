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
- Several seeds: seed ``s`` of the student is paired with seed ``s`` of the
  baseline on every example. McNemar pools the discordant pairs of all seeds
  (each (seed, example) is a pair); the gain is the mean over seeds of each
  seed's gain, and its bootstrap resamples examples, the same examples for
  every seed (an example hard for one seed is hard for the others).
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
    """The exact McNemar test of two models' correctness on the same examples, (seeds, examples) each:
    p = min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2); 1 when no pair is discordant."""
    s, base = _pairs(student, baseline)
    b, c = int((s & ~base).sum()), int((~s & base).sum())
    n = b + c
    p = 1.0 if n == 0 else min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
    return McNemar(b, c, p)


def paired_gain(student: np.ndarray, baseline: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = 0) -> Estimate:
    """Accuracy of the student minus the baseline's (mean over seeds), with a percentile bootstrap 95%
    interval over examples; ``n`` is the number of examples."""
    s, base = _pairs(student, baseline)
    diff = s.astype(np.float64) - base.astype(np.float64)  # (seeds, examples): +1, 0 or -1
    per_example = diff.mean(axis=0)  # the seeds' mean gain on each example
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, per_example.size, size=(resamples, per_example.size))
    means = per_example[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(per_example.mean()), float(low), float(high), int(per_example.size))


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
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(_ece(confidence, correct, bins), float(low), float(high), int(confidence.size))
