"""Do the latency intervals over rounds cover what they claim? Coverage in simulation, against a known truth.

    python benchmarks/coverage.py [--quick] [--sims N] [--seed S]

Rounds of 101-forward windows: lognormal forwards (5% jitter), 2% of them 3x
slow, and slow phases of the machine that slow a whole round 1.3-1.5x (30% of
the rounds). Two intervals, both the product's own functions:

- p50: ``round_interval(round_medians(windows))`` of one model's rounds; the
  truth is the population median of a round's median, exact from scipy (the
  window median is the 51st order statistic of 101: a binomial tail of the
  forwards' CDF, mixed over the phases and solved for one half, as
  tests/unit/test_paired.py does);
- speedup_vs_teacher: ``harness.measure.paired.track_ratio`` (value
  ``paired_ratio``, interval ``round_interval`` of each round's ratio of
  medians) of a teacher planted exactly 2x slower than its student; a slow
  phase slows both models of its round, and a phase edge that falls between
  the round's two windows slows one of them only (which one: the product's
  random order of the round). Independent rounds: an edge in 10% of the rounds;
  truth 2.

Columns: independent rounds, and slow phases autocorrelated across rounds (a
2-state Markov chain, slow 30% of the time, a slow phase lasting 5 rounds on
average; for the ratio, an edge falls between the two windows in half the
rounds where the chain switches). Beside them the exact coverage
``harness.measure.stats.coverage(n)`` for independent rounds, and a second
table with the old percentile bootstrap over rounds (resample rounds, median of
the round values, 2.5/97.5 percentiles) at 3, 4, 5 and 8 rounds.

Target, independent rounds: every product interval covers >= 93% from 5 rounds
(the fewest the suite allows) to 40 and >= 94% from 8 rounds up; exit 1 if
missed by more than 2 Monte-Carlo standard errors. The autocorrelated column is
reported, not judged.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from scipy import optimize, stats
from tabulate import tabulate

from harness.measure.paired import Track, track_ratio
from harness.measure.stats import coverage, round_interval, round_medians

WINDOW = 101
JITTER = 0.05
SLOW_FORWARD_SHARE, SLOW_FORWARD = 0.02, 3.0
PHASE_SHARE, PHASE_LOW, PHASE_HIGH = 0.3, 1.3, 1.5
PHASE_LENGTH = 5.0  # mean rounds a slow phase lasts, autocorrelated case
EDGE = 0.1  # independent rounds: the share of rounds where a phase edge falls between the two windows
STUDENT_MS, RATIO = 10.0, 2.0  # the student's scale; the teacher is RATIO times slower
ROUNDS = (5, 6, 8, 10, 12, 15, 20, 30, 40)
OLD_ROUNDS = (3, 4, 5, 8)
OLD_RESAMPLES = 1000
CHECKED = 20  # sims per cell also run through round_medians and track_ratio themselves


def se(rate: float, n: int) -> float:
    return math.sqrt(rate * (1.0 - rate) / n)


def forward_cdf(x: np.ndarray | float) -> np.ndarray | float:
    """The CDF of one forward's latency (ms) outside slow phases."""
    fast = stats.lognorm.cdf(x / STUDENT_MS, JITTER)
    slow = stats.lognorm.cdf(x / (STUDENT_MS * SLOW_FORWARD), JITTER)
    return (1.0 - SLOW_FORWARD_SHARE) * fast + SLOW_FORWARD_SHARE * slow


def true_p50() -> float:
    """The population median of a window's median: P(median <= x) = P(Binomial(WINDOW, F(x / phase)) >= 51),
    mixed over the phase factor (1 outside a slow phase, uniform 1.3-1.5 in one; Gauss-Legendre), solved for 1/2."""
    half = (WINDOW - 1) // 2
    nodes, weights = np.polynomial.legendre.leggauss(64)
    factors = PHASE_LOW + (nodes + 1.0) / 2.0 * (PHASE_HIGH - PHASE_LOW)
    weights = weights / weights.sum()

    def cdf(x: float) -> float:
        fast = stats.binom.sf(half, WINDOW, forward_cdf(x))
        slow = float((weights * stats.binom.sf(half, WINDOW, forward_cdf(x / factors))).sum())
        return (1.0 - PHASE_SHARE) * fast + PHASE_SHARE * slow - 0.5

    return float(optimize.brentq(cdf, 0.5 * STUDENT_MS, 2.0 * STUDENT_MS))


def states(rng: np.random.Generator, sims: int, rounds: int, markov: bool) -> np.ndarray:
    """(sims, rounds + 1) slow-phase states, the first the one before round 0: independent draws with probability
    PHASE_SHARE, or a stationary 2-state Markov chain with the same share and slow phases PHASE_LENGTH rounds long."""
    if not markov:
        return rng.random((sims, rounds + 1)) < PHASE_SHARE
    leave_slow = 1.0 / PHASE_LENGTH
    enter_slow = PHASE_SHARE * leave_slow / (1.0 - PHASE_SHARE)
    out = np.empty((sims, rounds + 1), dtype=bool)
    out[:, 0] = rng.random(sims) < PHASE_SHARE
    for r in range(1, rounds + 1):
        u = rng.random(sims)
        out[:, r] = np.where(out[:, r - 1], u >= leave_slow, u < enter_slow)
    return out


def forwards(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    x = scale * np.exp(rng.normal(0.0, JITTER, (*shape, WINDOW)))
    return x * np.where(rng.random(x.shape) < SLOW_FORWARD_SHARE, SLOW_FORWARD, 1.0)


def phase_factor(rng: np.random.Generator, slow: np.ndarray) -> np.ndarray:
    return np.where(slow, rng.uniform(PHASE_LOW, PHASE_HIGH, slow.shape), 1.0)


def p50_rounds(rng: np.random.Generator, sims: int, rounds: int, markov: bool) -> np.ndarray:
    """(sims, rounds, WINDOW): one model's windows, each round slowed as a whole in a slow phase."""
    slow = states(rng, sims, rounds, markov)[:, 1:]
    return forwards(rng, (sims, rounds), STUDENT_MS) * phase_factor(rng, slow)[..., None]


def paired_rounds(rng: np.random.Generator, sims: int, rounds: int, markov: bool) -> tuple[np.ndarray, np.ndarray]:
    """(teacher, student) windows, (sims, rounds, WINDOW) each: a slow phase slows both windows of its round; a
    phase edge between the two windows slows one of them only, either as likely (the round's random order)."""
    chain = states(rng, sims, rounds, markov)
    factor = phase_factor(rng, chain[:, 1:])
    teacher = forwards(rng, (sims, rounds), STUDENT_MS * RATIO) * factor[..., None]
    student = forwards(rng, (sims, rounds), STUDENT_MS) * factor[..., None]
    edge = (chain[:, 1:] != chain[:, :-1]) & (rng.random((sims, rounds)) < 0.5) if markov else \
        rng.random((sims, rounds)) < EDGE
    extra = np.where(edge, rng.uniform(PHASE_LOW, PHASE_HIGH, (sims, rounds)), 1.0)[..., None]
    on_teacher = (rng.random((sims, rounds)) < 0.5)[..., None]
    return teacher * np.where(on_teacher, extra, 1.0), student * np.where(on_teacher, 1.0, extra)


def _track(windows: np.ndarray) -> Track:
    track = Track()
    for slot, window in enumerate(windows):
        track.add(window, slot)
    return track


def product_coverage(rng: np.random.Generator, sims: int, rounds: int, markov: bool, p50: float,
                     ) -> tuple[float, float]:
    """(p50 coverage, speedup_vs_teacher coverage) of the product's intervals: ``round_interval`` of the rounds'
    medians (np.median of each window, as ``round_medians`` takes it), and of the rounds' ratios of medians; the
    first CHECKED sims also go through ``round_medians`` and ``track_ratio`` themselves, which must agree."""
    windows = p50_rounds(rng, sims, rounds, markov)
    medians = np.median(windows, axis=2)
    covered_p50 = 0
    for sim, values in enumerate(medians):
        low, high = round_interval(values)
        if sim < CHECKED and (low, high) != round_interval(round_medians(list(windows[sim]))):
            raise AssertionError("the p50 interval differs from round_interval(round_medians(windows))")
        covered_p50 += low <= p50 <= high
    teacher, student = paired_rounds(rng, sims, rounds, markov)
    ratios = np.median(teacher, axis=2) / np.median(student, axis=2)
    covered_ratio = 0
    for sim, values in enumerate(ratios):
        low, high = round_interval(values)
        if sim < CHECKED:
            value, interval = track_ratio(_track(teacher[sim]), _track(student[sim]))
            if interval != (low, high) or value != float(np.median(values)):
                raise AssertionError("the speedup interval differs from harness.measure.paired.track_ratio's")
        covered_ratio += low <= RATIO <= high
    return covered_p50 / sims, covered_ratio / sims


def old_bootstrap_covers(rng: np.random.Generator, values: np.ndarray, truth: float) -> bool:
    """The old interval: rounds resampled with replacement, the median of each resample, 2.5/97.5 percentiles."""
    picks = rng.integers(0, values.size, size=(OLD_RESAMPLES, values.size))
    low, high = np.percentile(np.median(values[picks], axis=1), [2.5, 97.5])
    return bool(low <= truth <= high)


def old_coverage(rng: np.random.Generator, sims: int, rounds: int, p50: float) -> tuple[float, float]:
    medians = np.median(p50_rounds(rng, sims, rounds, False), axis=2)
    teacher, student = paired_rounds(rng, sims, rounds, False)
    ratios = np.median(teacher, axis=2) / np.median(student, axis=2)
    return (float(np.mean([old_bootstrap_covers(rng, m, p50) for m in medians])),
            float(np.mean([old_bootstrap_covers(rng, r, RATIO) for r in ratios])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds), for the smoke test")
    parser.add_argument("--sims", type=int, default=None, help="simulated cells per row (default 10000; quick 60)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    sims = args.sims or (60 if args.quick else 10000)
    round_counts, old_counts = ((5, 8, 20), (3, 8)) if args.quick else (ROUNDS, OLD_ROUNDS)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    p50 = true_p50()
    print(f"{WINDOW}-forward windows, {100 * SLOW_FORWARD_SHARE:g}% slow forwards ({SLOW_FORWARD:g}x); slow phases "
          f"{100 * PHASE_SHARE:g}% of rounds ({PHASE_LOW}-{PHASE_HIGH}x a whole round; autocorrelated: Markov, "
          f"{PHASE_LENGTH:g} rounds a phase on average); true p50 {p50:.4f} ms, true ratio {RATIO:g}; "
          f"{sims} sims a cell")

    rows, missed, autocorrelated = [], [], []
    for rounds in round_counts:
        target = 0.94 if rounds >= 8 else 0.93
        independent = product_coverage(rng, sims, rounds, False, p50)
        markov = product_coverage(rng, sims, rounds, True, p50)
        autocorrelated.append(markov)
        for what, rate in zip(("p50", "speedup_vs_teacher"), independent, strict=True):
            if target - rate > 2 * se(rate, sims):
                missed.append(f"{what} at {rounds} rounds: {100 * rate:.1f}% < {100 * target:g}%")
        rows.append([rounds, f"{100 * coverage(rounds):.2f}%", f"{100 * target:g}%",
                     *(f"{100 * r:.1f}% ± {100 * se(r, sims):.1f}" for r in independent),
                     *(f"{100 * r:.1f}% ± {100 * se(r, sims):.1f}" for r in markov)])
    print(tabulate(rows, headers=["rounds", "exact (iid)", "target", "p50: independent",
                                  "speedup: independent", "p50: autocorrelated", "speedup: autocorrelated"],
                   tablefmt="github"))
    print()

    rows = []
    for rounds in old_counts:
        old = old_coverage(rng, sims, rounds, p50)
        rows.append([rounds, *(f"{100 * r:.1f}% ± {100 * se(r, sims):.1f}" for r in old),
                     f"{100 * coverage(rounds):.2f}%"])
    print(tabulate(rows, headers=["rounds", "old bootstrap: p50", "old bootstrap: speedup",
                                  "product interval, exact (iid)"], tablefmt="github"))
    print()

    for i, what in enumerate(("p50", "speedup_vs_teacher")):
        short, rate, at = max((coverage(r) - m[i], m[i], r) for r, m in zip(round_counts, autocorrelated, strict=True))
        verdict = "UNDER-COVERS" if short > 2 * se(rate, sims) else "holds its coverage"
        print(f"autocorrelated slow phases (reported, not judged): {what} {verdict}; furthest below the exact "
              f"coverage at {at} rounds: {100 * rate:.1f}% against {100 * coverage(at):.2f}%")
    print("  (a slow phase lasting several rounds moves several round medians together: the rounds are not independent "
          "and an interval over them claims too much; a ratio within paired rounds cancels the phase, and the random "
          "order of each round makes a phase edge slow either model alike)")
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    if missed:
        print("FAIL: " + "; ".join(missed))
        return 1
    print("PASS: every product interval covers >= 93% from 5 rounds and >= 94% from 8 rounds (independent rounds), "
          "to 2 Monte-Carlo standard errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
