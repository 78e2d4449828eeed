"""Quality on the test split: accuracy, agreement with the teacher, KL to the teacher.

Intervals are percentile bootstrap 95% intervals over test examples
(1000 resamples, a fixed generator), so they are reproducible exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from harness.measure.stats import PERCENTILES_95

BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def bootstrap_mean(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap 95% interval. Where every value is the same, no resample can
    show a spread: the interval is unknown (NaN ends), never a zero-width one (:func:`proportion` has an exact
    interval for that case)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, PERCENTILES_95)
    if not high > low:
        low = high = np.nan
    return Estimate(float(values.mean()), float(low), float(high), len(values))


def proportion(hits: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Estimate:
    """The share of true ``hits`` with a percentile bootstrap 95% interval over examples; where the bootstrap
    degenerates (every example right, or every one wrong: 84/84 would read 100.0-100.0) the exact Clopper-Pearson
    interval (84/84: 95.7-100%).

    >>> e = proportion(np.ones(84, dtype=bool))
    >>> e.value, round(e.ci_low, 4), e.ci_high
    (1.0, 0.957, 1.0)
    """
    from scipy import stats

    found = bootstrap_mean(np.asarray(hits, dtype=np.float64), resamples, seed)
    if not np.isnan(found.ci_low):
        return found
    k, n = int(round(found.value * found.n)), found.n
    low = float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    return Estimate(found.value, low, high, n)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> Estimate:
    return proportion((logits.argmax(1) == labels).numpy())


def teacher_agreement(logits: torch.Tensor, teacher_logits: torch.Tensor) -> Estimate:
    return proportion((logits.argmax(1) == teacher_logits.argmax(1)).numpy())


def kl_to_teacher(logits: torch.Tensor, teacher_logits: torch.Tensor) -> Estimate:
    """Mean over examples of KL(p_teacher || p_model), in nats."""
    per_example = F.kl_div(F.log_softmax(logits.double(), 1), F.log_softmax(teacher_logits.double(), 1),
                           reduction="none", log_target=True).sum(1)
    return bootstrap_mean(per_example.numpy())
