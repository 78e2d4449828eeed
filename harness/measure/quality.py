"""Quality on the test split: accuracy, agreement with the teacher, KL to the teacher.

Intervals are percentile bootstrap 95% intervals over test examples
(1000 resamples, a fixed generator), so they are reproducible exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def bootstrap_mean(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap 95% interval."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(values.mean()), float(low), float(high), len(values))


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> Estimate:
    return bootstrap_mean((logits.argmax(1) == labels).double().numpy())


def teacher_agreement(logits: torch.Tensor, teacher_logits: torch.Tensor) -> Estimate:
    return bootstrap_mean((logits.argmax(1) == teacher_logits.argmax(1)).double().numpy())


def kl_to_teacher(logits: torch.Tensor, teacher_logits: torch.Tensor) -> Estimate:
    """Mean over examples of KL(p_teacher || p_model), in nats."""
    per_example = F.kl_div(F.log_softmax(logits.double(), 1), F.log_softmax(teacher_logits.double(), 1),
                           reduction="none", log_target=True).sum(1)
    return bootstrap_mean(per_example.numpy())
