"""Type-I error and power of the harness's calls, in simulation: the accuracy call and the latency gates.

    python benchmarks/type1_power.py [--quick] [--sims N] [--seed S]

Two tables (tabulate, "github" format), each row a scenario with its type-I
error at nominal 5% (Monte-Carlo standard error sqrt(p(1-p)/N)) and its power
at a stated effect:

- accuracy: the harness's call, ``paired_accuracy(student, teacher).p < 0.05``
  (each test example once), on 200 simulated test examples with a latent
  difficulty; two equally accurate models each leaning towards its own
  examples (each example, independently with probability 1/2, leans to the
  student: its logit +1 there and the teacher's -1, or the reverse; about half
  each, the examples drawn iid). Beside it, on the same data,
  the old pooled McNemar test ((seed, example) pairs concatenated, the
  teacher's one seed repeated for each student seed; scipy's binomtest on the
  discordant counts), which an audit found at 25% for 5 seeds. Power: the
  student 5 and 10 points more accurate (a logit shift solved for each).
- latency gates: rounds of 100-forward windows, lognormal (5% jitter) with 2%
  slow forwards (3x) and slow phases of the machine (a quarter of the rounds,
  each 1.3-1.5x slower as a whole), baseline and candidate independent runs.
  The test is the product's: ``round_statistic(metric)`` of each window, then
  ``scipy.stats.mannwhitneyu(c, b, alternative="greater")`` (the fast path,
  cross-checked against ``harness.significance._rank_test`` itself on the first
  sims of every row). A gate FAILs only beyond its bound (here 10% worse, the
  gate's value being the run's p50 or pooled p99) and at p < 0.05; where the
  rounds cannot reach 0.05 (3 against 3: smallest p 0.05) a change beyond the
  bound is "undecidable" and FAIL cannot happen. Power: the median 20% slower
  (p50 gate), or the slow forwards 2x slower with the median unchanged (p99).

Ends with "max type-I error: X% (Monte-Carlo se Y%)" and exits 1 if any row's
type-I error exceeds 6% by more than 2 of its Monte-Carlo standard errors.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from tabulate import tabulate

from harness.measure.paired_quality import paired_accuracy
from harness.measure.stats import round_medians, smallest_rank_p
from harness.metrics import metric
from harness.significance import Cell, _rank_test, round_statistic

ALPHA = 0.05
LIMIT = 0.06  # every type-I row must be at most this (beyond 2 Monte-Carlo standard errors: exit 1)

# accuracy: the simulated test set and models
EXAMPLES = 200
BASE_LOGIT = 1.5  # about 78% accuracy
DIFFICULTY = 1.5  # logit slope of an example's latent difficulty (standard normal)
LEAN = 1.0  # each model's logit advantage on its own half of the examples
GAINS = (0.05, 0.10)  # the power's effects: the student this much more accurate

# latency: the simulated rounds
WINDOW = 100  # forwards per round's window
JITTER = 0.05  # lognormal sigma of a forward
SLOW_FORWARD_SHARE, SLOW_FORWARD = 0.02, 3.0
PHASE_SHARE, PHASE_LOW, PHASE_HIGH = 0.25, 1.3, 1.5
BOUND_PCT = 10.0  # the gate's max_regression_pct
MEDIAN_SHIFT = 1.2  # p50 power: every forward 20% slower
TAIL_SHIFT = 2.0  # p99 power: the slow forwards 2x slower (6x instead of 3x)
CHECKED = 25  # sims per latency row also run through harness.significance._rank_test


def se(rate: float, n: int) -> float:
    return math.sqrt(rate * (1.0 - rate) / n)


def pct(rate: float, n: int | None = None) -> str:
    return f"{100 * rate:.1f}%" if n is None else f"{100 * rate:.1f}% ± {100 * se(rate, n):.1f}"


# ---------------------------------------------------------------------------------------------------- accuracy


def _gauss_expectation(f) -> float:
    """E f(z) for z standard normal (probabilists' Gauss-Hermite, 80 nodes)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    return float((weights * f(nodes)).sum() / weights.sum())


def _accuracy(shift: float, lean: float) -> float:
    """The population accuracy of a model with logit BASE_LOGIT + shift - DIFFICULTY z + lean on its half."""
    return 0.5 * sum(_gauss_expectation(lambda z, s=s: special.expit(BASE_LOGIT + shift - DIFFICULTY * z + s * lean))
                     for s in (1.0, -1.0))


def gain_shift(gain: float) -> float:
    """The student's logit shift that makes it ``gain`` more accurate than the teacher (population)."""
    teacher = _accuracy(0.0, LEAN)
    return float(optimize.brentq(lambda d: _accuracy(d, LEAN) - teacher - gain, -3.0, 3.0))


@dataclass(frozen=True)
class AccuracyCase:
    name: str
    student_seeds: int
    teacher_seeds: int
    deterministic: bool = False


ACCURACY_CASES = (
    AccuracyCase("1 student seed vs the teacher's 1", 1, 1),
    AccuracyCase("3 student seeds vs the teacher's 1", 3, 1),
    AccuracyCase("5 student seeds vs the teacher's 1", 5, 1),
    AccuracyCase("3 student seeds vs 3 teacher seeds", 3, 3),
    AccuracyCase("deterministic student (5 identical seeds) vs the teacher's 1", 5, 1, deterministic=True),
)


def _correct(rng: np.random.Generator, logit: np.ndarray, seeds: int, deterministic: bool) -> np.ndarray:
    """(seeds, examples) correctness: each seed right on an example with probability expit(logit); a deterministic
    method's seeds all predict alike."""
    p = special.expit(logit)
    if deterministic:
        return np.repeat((rng.random(p.size) < p)[None], seeds, axis=0)
    return rng.random((seeds, p.size)) < p


def pooled_mcnemar(student: np.ndarray, teacher: np.ndarray) -> float:
    """The old call: (seed, example) pairs concatenated (the teacher's one seed repeated for each student seed,
    else seed i against seed i), exact two-sided binomial test on the discordant counts."""
    t = np.broadcast_to(teacher, student.shape) if teacher.shape[0] == 1 else teacher
    b, c = int((student & ~t).sum()), int((~student & t).sum())
    return 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)


def accuracy_rates(case: AccuracyCase, sims: int, shift: float, rng: np.random.Generator) -> tuple[float, float]:
    """(harness rejection rate, pooled-McNemar rejection rate) at two-sided p < ALPHA, the student's logit
    shifted by ``shift`` (0: equally accurate)."""
    harness = pooled = 0
    for sim in range(sims):
        difficulty = BASE_LOGIT - DIFFICULTY * rng.standard_normal(EXAMPLES)
        lean = np.where(rng.random(EXAMPLES) < 0.5, LEAN, -LEAN)  # towards the student or the teacher
        student = _correct(rng, difficulty + lean + shift, case.student_seeds, case.deterministic)
        teacher = _correct(rng, difficulty - lean, case.teacher_seeds, False)
        harness += paired_accuracy(student, teacher, seed=sim).p < ALPHA
        pooled += pooled_mcnemar(student, teacher) < ALPHA
    return harness / sims, pooled / sims


# ---------------------------------------------------------------------------------------------------- latency


def windows(rng: np.random.Generator, sims: int, rounds: int, scale: float = 1.0,
            slow_forward: float = SLOW_FORWARD) -> np.ndarray:
    """(sims, rounds, WINDOW) latencies in ms: lognormal jitter, rare slow forwards, slow phases of whole rounds."""
    x = 10.0 * scale * np.exp(rng.normal(0.0, JITTER, (sims, rounds, WINDOW)))
    x *= np.where(rng.random(x.shape) < SLOW_FORWARD_SHARE, slow_forward, 1.0)
    slow = rng.random((sims, rounds, 1)) < PHASE_SHARE
    return x * np.where(slow, rng.uniform(PHASE_LOW, PHASE_HIGH, (sims, rounds, 1)), 1.0)


class _Side:
    """One run as harness.significance reads it: its raw samples with their seed and round."""

    def __init__(self, rounds: np.ndarray):
        r, w = rounds.shape
        self.samples = pd.DataFrame({"model": "student", "seed": 0, "batch_size": 1,
                                     "round": np.repeat(np.arange(r), w), "latency_ms": rounds.ravel()})
        self.rows = pd.DataFrame()
        self.predictions = None


def gate_value(name: str, rounds: np.ndarray) -> float:
    """What the run reports and the gate's bound is checked on: the median of round medians for p50, else the
    statistic of the pooled samples (harness.measure.batch.put_latency)."""
    if name == "latency_p50_ms":
        return float(np.median(round_medians(list(rounds))))
    return float(np.percentile(rounds.ravel(), 99.0))


@dataclass
class GateRates:
    reject: float  # the rank test's one-sided p < ALPHA
    fail: float  # beyond the bound and p < ALPHA
    undecidable: float  # beyond the bound, the design unable to reach ALPHA
    checked: int  # sims whose p the product's _rank_test reproduced


def gate_rates(name: str, base: np.ndarray, cand: np.ndarray) -> GateRates:
    statistic = round_statistic(name)
    cell = Cell("student", metric(name), None, 1)
    rounds = base.shape[1]
    cannot = smallest_rank_p(rounds, rounds) >= ALPHA
    reject = fail = undecidable = checked = 0
    for sim in range(base.shape[0]):
        b = [statistic(w) for w in base[sim]]
        c = [statistic(w) for w in cand[sim]]
        p = float(stats.mannwhitneyu(c, b, alternative="greater").pvalue)
        if sim < CHECKED:  # the product's own test on the same rounds must give the same p
            test = _rank_test(cell, _Side(base[sim]), _Side(cand[sim]), ALPHA)
            if test is None or not math.isclose(test.p_worse or -1.0, p, rel_tol=1e-12, abs_tol=1e-15) \
                    or test.undecidable(ALPHA) != cannot:
                raise AssertionError(f"{name}: the fast path's p {p} differs from _rank_test's {test}")
            checked += 1
        b_value, c_value = gate_value(name, base[sim]), gate_value(name, cand[sim])
        beyond = (c_value - b_value) / b_value * 100.0 > BOUND_PCT
        reject += p < ALPHA
        fail += beyond and p < ALPHA
        undecidable += beyond and cannot
    n = base.shape[0]
    return GateRates(reject / n, fail / n, undecidable / n, checked)


# ---------------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds), for the smoke test")
    parser.add_argument("--sims", type=int, default=None,
                        help="simulations per row (default: 1000 accuracy, 1500 latency; quick: 20, 30)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    sims = args.sims or (20 if args.quick else 1000)
    latency_sims = sims if args.sims else (30 if args.quick else 1500)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    type1: list[tuple[str, float, int]] = []

    shifts = [gain_shift(g) for g in GAINS]
    power_sims = max(sims // 2, 1)
    print(f"accuracy: {EXAMPLES} examples, accuracy {_accuracy(0.0, LEAN):.1%} each; {sims} sims a cell for the "
          f"type-I error, {power_sims} for each power (student logit " +
          ", ".join(f"+{s:.3f} for +{100 * g:g} points" for g, s in zip(GAINS, shifts, strict=True)) + ")")
    rows = []
    for case in ACCURACY_CASES:
        null, old = accuracy_rates(case, sims, 0.0, rng)
        powers = [accuracy_rates(case, power_sims, shift, rng) for shift in shifts]
        type1.append((f"accuracy, {case.name}", null, sims))
        rows.append([case.name, pct(null, sims), pct(old, sims),
                     *(f"{pct(harness)} (old {pct(pooled)})" for harness, pooled in powers)])
    print(tabulate(rows, headers=["accuracy call (two-sided, 5%)", "type-I: harness", "type-I: old pooled McNemar",
                                  *(f"power +{100 * g:g} pts: harness (old pooled)" for g in GAINS)],
                   tablefmt="github"))
    print()

    print(f"latency gates: {WINDOW}-forward windows, {100 * SLOW_FORWARD_SHARE:g}% slow forwards ({SLOW_FORWARD:g}x), "
          f"slow phases in {100 * PHASE_SHARE:g}% of rounds ({PHASE_LOW}-{PHASE_HIGH}x); bound {BOUND_PCT:g}% worse; "
          f"{latency_sims} sims a cell")
    rows = []
    checked = 0
    for name, label, effect in (("latency_p50_ms", "p50", f"median +{100 * (MEDIAN_SHIFT - 1):.0f}%"),
                                ("latency_p99_ms", "p99", f"slow forwards {TAIL_SHIFT:g}x slower, median same")):
        for rounds in (3, 5, 8, 20):
            cannot = smallest_rank_p(rounds, rounds) >= ALPHA
            null = gate_rates(name, windows(rng, latency_sims, rounds), windows(rng, latency_sims, rounds))
            if name == "latency_p50_ms":
                cand = windows(rng, latency_sims, rounds, scale=MEDIAN_SHIFT)
            else:
                cand = windows(rng, latency_sims, rounds, slow_forward=SLOW_FORWARD * TAIL_SHIFT)
            alt = gate_rates(name, windows(rng, latency_sims, rounds), cand)
            checked += null.checked + alt.checked
            type1.append((f"{label} gate, {rounds} vs {rounds} rounds", null.reject, latency_sims))
            design = f"undecidable (smallest p {smallest_rank_p(rounds, rounds):.3g})" if cannot else \
                f"smallest p {smallest_rank_p(rounds, rounds):.2g}"
            rows.append([f"{label}, {rounds} vs {rounds} rounds", design,
                         pct(null.reject, latency_sims) + (" (0 by construction)" if cannot else ""),
                         pct(null.fail), pct(null.undecidable) if cannot else "-",
                         effect, pct(alt.reject), pct(alt.fail), pct(alt.undecidable) if cannot else "-"])
    print(tabulate(rows, headers=["latency gate", "design", "type-I: p<5%", "type-I: FAIL", "H0: undecidable",
                                  "effect", "power: p<5%", "power: FAIL", "effect: undecidable"],
                   tablefmt="github"))
    print(f"(the product's _rank_test reproduced the p-value of all {checked} sims checked against it)")
    print()

    worst_name, worst, n = max(type1, key=lambda t: t[1] - LIMIT - 2 * se(t[1], t[2]))
    top_name, top, top_n = max(type1, key=lambda t: t[1])
    print(f"max type-I error: {100 * top:.1f}% (Monte-Carlo se {100 * se(top, top_n):.1f}%), {top_name}")
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    if worst - LIMIT > 2 * se(worst, n):
        print(f"FAIL: {worst_name}: type-I {100 * worst:.1f}% exceeds {100 * LIMIT:g}% by more than 2 Monte-Carlo "
              f"standard errors")
        return 1
    print(f"PASS: every type-I row within {100 * LIMIT:g}% (to 2 Monte-Carlo standard errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
