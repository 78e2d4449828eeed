"""Paired quality statistics against references nobody here wrote: scipy's exact binomial test and
statsmodels' McNemar and Holm; the paired bootstrap's coverage on synthetic pairs with a known gain;
ECE on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from harness.measure.paired_quality import calibration_bins, ece, holm, mcnemar, paired_gain


def _pairs_with(b: int, c: int, same: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Correctness arrays with ``b`` examples only the student gets right, ``c`` only the baseline, and
    ``same`` both get right."""
    student = np.array([True] * b + [False] * c + [True] * same)
    base = np.array([False] * b + [True] * c + [True] * same)
    return student, base


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (3, 0), (5, 5), (12, 3), (3, 12), (40, 25), (0, 17),
                                      (100, 70), (250, 210)])
def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_pairs(b: int, c: int):
    student, base = _pairs_with(b, c)
    found = mcnemar(student, base)
    assert (found.b, found.c) == (b, c)
    expected = 1.0 if b + c == 0 else stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert found.p == pytest.approx(expected, rel=1e-12, abs=1e-300)
    table = [[20, b], [c, 0]]  # rows: student right / wrong; columns: baseline right / wrong
    assert found.p == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12, abs=1e-300)


def test_mcnemar_pools_the_discordant_pairs_of_every_seed():
    s0, b0 = _pairs_with(4, 1)
    s1, b1 = _pairs_with(6, 2)
    found = mcnemar(np.stack([s0, s1[: len(s0)]]), np.stack([b0, b1[: len(b0)]]))
    assert (found.b, found.c) == (4 + 6, 1 + 2)  # every discordant pair of both seeds (the second cut to 25)
    with pytest.raises(ValueError, match="one shape"):
        mcnemar(s0, b1)


@pytest.mark.parametrize("pvalues", [[0.01, 0.04, 0.03], [0.2], [0.001, 0.5, 0.02, 0.02, 0.7], [0.04, 0.04],
                                     [1e-9, 0.3, 0.049, 0.011, 0.9, 0.0125]])
def test_holm_matches_statsmodels(pvalues: list[float]):
    assert holm(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]), abs=1e-12)


def test_the_paired_gain_is_the_difference_of_accuracies():
    student, base = _pairs_with(12, 3, same=85)
    gain = paired_gain(student, base)
    assert gain.value == pytest.approx(student.mean() - base.mean()) and gain.n == 100
    assert gain.ci_low < gain.value < gain.ci_high


def test_the_paired_bootstrap_covers_a_known_gain():
    """Synthetic pairs: each example has a difficulty; 3 seeds of each model get it right independently
    given that, the student 5 points more often. Over 300 test sets the 95% interval holds the true gain
    about 95% of the time (a binomial 99.9% band around 0.95 for 300 trials is 0.90-0.99)."""
    rng = np.random.default_rng(7)
    true_gain, hits, trials = 0.05, 0, 300
    for _ in range(trials):
        easy = rng.uniform(0.55, 0.95, size=400)  # P(baseline right) per example
        base = rng.random((3, 400)) < easy
        student = rng.random((3, 400)) < easy + true_gain
        interval = paired_gain(student, base, resamples=500, seed=int(rng.integers(1 << 31)))
        hits += interval.ci_low <= true_gain <= interval.ci_high
    assert 0.90 <= hits / trials <= 0.99, hits / trials


def test_the_paired_interval_is_narrower_than_the_unpaired_one():
    """What pairing buys: on correlated models, the interval of the difference is far narrower than the
    two accuracies' intervals combined as if independent."""
    rng = np.random.default_rng(3)
    base = rng.random(1000) < 0.8
    student = base.copy()
    student[rng.choice(np.flatnonzero(~base), 40, replace=False)] = True  # 40 more right, nothing else changed
    gain = paired_gain(student, base)
    variance = base.mean() * (1 - base.mean()) / 1000 + student.mean() * (1 - student.mean()) / 1000
    unpaired_half = 1.96 * np.sqrt(variance)
    assert (gain.ci_high - gain.ci_low) / 2 < unpaired_half / 2
    assert gain.ci_low > 0 and mcnemar(student, base).p < 1e-10


def test_ece_on_hand_made_predictions():
    # 10 predictions at confidence 0.9 of which 9 are right: perfectly calibrated
    assert ece(np.full(10, 0.9), np.array([True] * 9 + [False])).value == pytest.approx(0.0)
    # at 0.9, half right: off by 0.4
    assert ece(np.full(10, 0.9), np.array([True] * 5 + [False] * 5)).value == pytest.approx(0.4)
    # two bins: 4 at 0.95 all right (|1 - 0.95| = 0.05), 6 at 0.55, 3 right (|0.5 - 0.55| = 0.05) -> 0.05;
    # plus the bin edges: 1.0 falls in the last bin and 1/15 in the first
    confidence = np.array([0.95] * 4 + [0.55] * 6)
    correct = np.array([True] * 4 + [True] * 3 + [False] * 3)
    found = ece(confidence, correct)
    assert found.value == pytest.approx(0.4 * 0.05 + 0.6 * 0.05) and found.n == 10
    assert found.ci_low <= found.value <= found.ci_high
    count, _, _ = calibration_bins(np.array([0.0, 1 / 15, 1.0, 0.5]), np.array([True] * 4))
    assert count[0] == 2 and count[14] == 1 and count[7] == 1
