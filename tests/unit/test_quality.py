"""Quality metrics: exact values, reproducible bootstrap intervals."""

import math

import numpy as np
import pytest
import torch

from harness.measure.quality import accuracy, bootstrap_mean, kl_to_teacher, proportion, teacher_agreement


def test_accuracy_and_agreement_are_exact_shares():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    labels = torch.tensor([0, 1, 1, 1])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, labels).value == 0.75
    assert teacher_agreement(logits, teacher).value == 0.75
    assert accuracy(logits, labels).n == 4


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    values = np.array([1.0] * 90 + [0.0] * 10)
    a, b = bootstrap_mean(values), bootstrap_mean(values)
    assert a == b
    assert a.value == 0.9 and a.ci_low < 0.9 < a.ci_high
    # binomial standard error sqrt(.9 * .1 / 100) = 0.03: the 95% interval is about +-0.06
    assert a.ci_high - a.ci_low == pytest.approx(0.12, abs=0.03)
    constant = bootstrap_mean(np.ones(50))  # no spread to resample: no interval, never a zero-width one
    assert constant.value == 1.0 and math.isnan(constant.ci_low) and math.isnan(constant.ci_high)


@pytest.mark.parametrize(("k", "n"), [(84, 84), (0, 84), (360, 360), (1, 1)])
def test_a_degenerate_accuracy_gets_the_clopper_pearson_interval(k: int, n: int):
    """84/84 right: the bootstrap reads 100.0-100.0; the exact interval is about 95.7-100 (statsmodels' 'beta')."""
    from statsmodels.stats.proportion import proportion_confint

    found = proportion(np.array([True] * k + [False] * (n - k)))
    low, high = proportion_confint(k, n, alpha=0.05, method="beta")
    assert found.value == k / n and (found.ci_low, found.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert found.ci_high > found.ci_low


def test_kl_to_teacher_by_hand():
    # teacher [ln 3, 0] -> [3/4, 1/4]; model [0, 0] -> [1/2, 1/2]
    kl = kl_to_teacher(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])).value
    assert kl == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), abs=1e-7)  # ln 3 in float32
    same = torch.randn(5, 4)
    assert kl_to_teacher(same, same).value == pytest.approx(0.0, abs=1e-12)
