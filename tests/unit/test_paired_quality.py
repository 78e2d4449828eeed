"""Paired quality statistics against references nobody here wrote: scipy's exact binomial test and
statsmodels' McNemar and Holm; the paired bootstrap's coverage on synthetic pairs with a known gain;
ECE on hand-made predictions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from harness.measure.paired_quality import calibration_bins, ece, holm, mcnemar, paired_accuracy, paired_gain


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


def test_mcnemar_is_one_seed_against_one_seed():
    s0, b0 = _pairs_with(4, 1)
    assert mcnemar(s0[None], b0[None]).n == 5
    with pytest.raises(ValueError, match="one seed"):  # several seeds are paired_accuracy's: each example once
        mcnemar(np.stack([s0, s0]), np.stack([b0, b0]))
    with pytest.raises(ValueError, match="one shape"):
        mcnemar(s0, b0[:-1])


def _sign_flip_by_enumeration(d: np.ndarray) -> tuple[float, float]:
    """P(T >= t), P(T <= t) for T = sum of +-|d_i| over all 2^m equally likely sign patterns, by listing them."""
    k = np.abs(d[d != 0])
    observed = d.sum()
    totals = np.array([sum(sign * v for sign, v in zip(signs, k, strict=True))
                       for signs in itertools.product((1, -1), repeat=k.size)])
    return float(np.mean(totals >= observed - 1e-12)), float(np.mean(totals <= observed + 1e-12))


@pytest.mark.parametrize("seed", range(6))
def test_several_seeds_the_sign_flip_test_matches_the_enumeration_of_every_sign_pattern(seed: int):
    """3 student seeds against 1 or 2 baseline seeds on 14 examples: the per-example difference of the mean
    correctness (computed here), and the exact p-values by listing all 2^m sign patterns of the nonzero ones."""
    rng = np.random.default_rng(seed)
    student = rng.random((3, 14)) < 0.7
    baseline = rng.random((1 + seed % 2, 14)) < 0.6
    d = student.mean(axis=0) - baseline.mean(axis=0)
    found = paired_accuracy(student, baseline)
    better, worse = _sign_flip_by_enumeration(d)
    if baseline.shape[0] == 1:
        assert found.p_better == pytest.approx(better, abs=1e-12) and found.p_worse == pytest.approx(worse, abs=1e-12)
    else:  # seeds on both sides: the seeds' bootstrap may only make it more cautious
        assert found.p_better >= better - 1e-12 and found.p_worse >= worse - 1e-12
    assert found.gain.value == pytest.approx(d.mean()) and found.gain.n == 14
    assert found.b == pytest.approx(d[d > 0].sum()) and found.c == pytest.approx(-d[d < 0].sum())
    assert found.discordant == int(np.count_nonzero(d))


@pytest.mark.parametrize(("b", "c"), [(10, 3), (0, 0), (7, 7), (30, 12), (3, 41)])
@pytest.mark.parametrize("seeds", [1, 5, 10])
def test_a_deterministic_student_in_any_number_of_seeds_is_one_seed_s_exact_mcnemar(b: int, c: int, seeds: int):
    """An int8 copy predicts identically in every seed: 5 or 10 copies of its correctness add no evidence. The
    reference is scipy's exact binomial test on the one seed's discordant pairs (b=10, c=3: p = 0.092)."""
    student, base = _pairs_with(b, c, same=200 - b - c)
    found = paired_accuracy(np.stack([student] * seeds), base)
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert found.p == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert (found.b, found.c) == (b, c) and found.gain.value == pytest.approx((b - c) / 200)
    one_sided = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    assert found.p_better == pytest.approx(one_sided, rel=1e-9)


def test_the_teacher_s_one_seed_is_not_counted_once_per_student_seed():
    """Five different student seeds against the teacher's one: the test counts each example once, so the evidence
    is at most the examples'. Pooling (seed, example) pairs would count each teacher error five times."""
    rng = np.random.default_rng(1)
    teacher = rng.random(200) < 0.8
    students = np.stack([np.where(rng.random(200) < 0.9, teacher, ~teacher) for _ in range(5)])
    found = paired_accuracy(students, teacher)
    d = students.mean(axis=0) - teacher
    assert found.b + found.c == pytest.approx(np.abs(d).sum()) and found.b + found.c <= 200
    pooled_discordant = int((students != teacher).sum())
    assert found.b + found.c < pooled_discordant


def test_identical_predictions_get_an_exact_interval_never_a_zero_width_one():
    """No example differs: the bootstrap cannot show any spread, so the interval is the Clopper-Pearson 95% bound on
    the share of examples that could differ (0 of 84: statsmodels' 'beta' interval), on either side of 0."""
    from statsmodels.stats.proportion import proportion_confint

    same = np.ones(84, dtype=bool)
    found = paired_accuracy(np.stack([same] * 3), same)
    upper = proportion_confint(0, 84, alpha=0.05, method="beta")[1]
    assert found.p == 1.0 and found.gain.value == 0.0
    assert (found.gain.ci_low, found.gain.ci_high) == pytest.approx((-upper, upper), rel=1e-9)


def test_with_seeds_on_both_sides_the_seed_spread_counts():
    """Two methods that differ only by seed luck: the examples agree within each seed but the seeds disagree
    with each other. The hierarchical bootstrap (seeds, then examples) is wider than one over examples alone."""
    rng = np.random.default_rng(5)
    truth = rng.random(300) < 0.75
    student = np.stack([np.where(rng.random(300) < (0.95 if s % 2 else 0.8), truth, ~truth) for s in range(4)])
    baseline = np.stack([np.where(rng.random(300) < 0.88, truth, ~truth) for _ in range(4)])
    both = paired_accuracy(student, baseline)
    d = student.mean(axis=0) - baseline.mean(axis=0)
    picks = rng.integers(0, 300, size=(1000, 300))
    examples_only = np.percentile(d[picks].mean(axis=1), [2.5, 97.5])
    assert both.gain.ci_high - both.gain.ci_low > examples_only[1] - examples_only[0]
    assert "seeds then examples" in both.test


@pytest.mark.parametrize("pvalues", [[0.01, 0.04, 0.03], [0.2], [0.001, 0.5, 0.02, 0.02, 0.7], [0.04, 0.04],
                                     [1e-9, 0.3, 0.049, 0.011, 0.9, 0.0125]])
def test_holm_matches_statsmodels(pvalues: list[float]):
    assert holm(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]), abs=1e-12)


def test_the_paired_gain_is_the_difference_of_accuracies():
    student, base = _pairs_with(12, 3, same=85)
    gain = paired_gain(student, base)
    assert gain.value == pytest.approx(student.mean() - base.mean()) and gain.n == 100
    assert gain.ci_low < gain.value < gain.ci_high


@pytest.mark.parametrize(("seeds", "low", "high"), [(1, 0.90, 0.99), (3, 0.93, 1.0)])
def test_the_paired_bootstrap_covers_a_known_gain(seeds: int, low: float, high: float):
    """Synthetic pairs: each example has a difficulty; each seed of each model gets it right independently
    given that, the student 5 points more often. Over 300 test sets the 95% interval holds the true gain
    about 95% of the time with one seed a side (a binomial 99.9% band around 0.95 for 300 trials is 0.90-0.99);
    with 3 seeds a side the bootstrap over seeds then examples counts the seeds' spread twice over, by design, so
    it covers at least as often (conservative)."""
    rng = np.random.default_rng(7)
    true_gain, hits, trials = 0.05, 0, 300
    for _ in range(trials):
        easy = rng.uniform(0.55, 0.95, size=400)  # P(baseline right) per example
        base = rng.random((seeds, 400)) < easy
        student = rng.random((seeds, 400)) < easy + true_gain
        interval = paired_gain(student, base, resamples=500, seed=int(rng.integers(1 << 31)))
        hits += interval.ci_low <= true_gain <= interval.ci_high
    assert low <= hits / trials <= high, hits / trials


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
