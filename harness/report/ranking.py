"""Ranks and Pareto flags of the leaderboard, where intervals and the A/A noise floor decide what counts as
a difference.

Shared rank where intervals overlap so no one claims a place the data does
not support: a row whose interval on the ranked metric overlaps that of
the first row of the group above (the row that holds rank k) takes rank k,
and its tie marker reads ``=k``. Ties do not chain through wide intervals: a
row is compared with its group's first row, not the row just above it. A row
that does not overlap opens a new group at its own position (1, 1, 3). When
the ranked metric is a timing (:attr:`~harness.metrics.Metric.timing`), two
rows whose values differ by less than the noise floor share a rank as well.
Ranked on accuracy with per-example predictions, the test replaces the
intervals (:func:`paired_accuracy_tests`): two students that were scored in
the same run tie unless the exact McNemar test between them (each seed of one
against the same seed of the other in the same run, the discordant pairs of
all of them pooled), Holm-adjusted across every such pair of the board's
students, gives p < 0.05; a pair without predictions in a common run ties
when the intervals overlap, as before.
A Pareto point is one that no other point matches or beats in both accuracy
and median latency while beating it in one; latencies closer than the noise
floor count as equal there.

>>> pareto_flags(["a", "b", "c"], [0.9, 0.8, 0.8], [2.0, 1.0, 1.5])
{'a': True, 'b': True, 'c': False}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import cast

import numpy as np
import pandas as pd

from harness.against_baseline import TEST_NAME
from harness.measure.paired_quality import holm, mcnemar
from harness.metrics import metric
from harness.report import predictions as examples
from harness.report.formatting import MISSING
from harness.report.noise import within_floor
from harness.report.variants import base_model

#: the rank of a row whose ranked metric is missing
UNRANKED = MISSING
ALPHA = 0.05
#: (suite, model label) of a leaderboard row
Student = tuple[str, str]
PairTests = Mapping[frozenset[Student], float]


def pareto_flags(names: Sequence[str], accuracy: Sequence[float], latency: Sequence[float],
                 floor_pct: float | None = None) -> dict[str, bool]:
    """For each name, whether its point is Pareto-optimal (higher accuracy and lower latency are better).

    A point is optimal when no other point is at least as good on both axes and strictly better on one.
    Latencies that differ by less than ``floor_pct`` percent (the A/A noise floor) count as equal.
    A point missing either value (NaN) is never optimal and dominates nothing. Names must be unique.

    >>> pareto_flags(["kd", "scratch"], [0.95, 0.93], [1.01, 1.00], floor_pct=1.7)
    {'kd': True, 'scratch': False}
    """
    if not len(names) == len(accuracy) == len(latency):
        raise ValueError("names, accuracy and latency must have the same length")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    points = [(a, lat) for a, lat in zip(accuracy, latency, strict=True)]
    known = [not (pd.isna(a) or pd.isna(lat)) for a, lat in points]

    def as_fast(j: int, i: int) -> bool:
        return points[j][1] <= points[i][1] or within_floor(points[j][1], points[i][1], floor_pct)

    def faster(j: int, i: int) -> bool:
        return points[j][1] < points[i][1] and not within_floor(points[j][1], points[i][1], floor_pct)

    def dominated(i: int) -> bool:
        a = points[i][0]
        return any(known[j] and j != i and points[j][0] >= a and as_fast(j, i)
                   and (points[j][0] > a or faster(j, i)) for j in range(len(points)))

    return {name: known[i] and not dominated(i) for i, name in enumerate(names)}


def _overlap(upper: pd.Series, lower: pd.Series, by: str) -> bool:
    """Whether two rows' intervals on ``by`` overlap; a row without an interval is the point of its value."""
    def ends(row: pd.Series) -> tuple[float, float]:
        low, high = row[f"{by}_low"], row[f"{by}_high"]
        return (row[by], row[by]) if pd.isna(low) or pd.isna(high) else (low, high)

    (a_low, a_high), (b_low, b_high) = ends(upper), ends(lower)
    return bool(a_low <= b_high and b_low <= a_high)


def _by_run_and_seed(predictions: pd.DataFrame, runs: set[str], model: str) -> dict[tuple[str, int], np.ndarray]:
    """(run, seed) -> ``model``'s correctness on each test example in that run (its first dtype)."""
    found = {}
    for run in sorted(runs):
        rows = examples.of_model(predictions[predictions["run_id"] == run], model)  # sorted by seed, example
        for seed, group in rows.groupby("seed", sort=True):
            found[(run, int(cast(int, seed)))] = group["correct"].to_numpy(dtype=bool)
    return found


def paired_accuracy_tests(students: pd.DataFrame, runs: Mapping[str, set[str]],
                          predictions: pd.DataFrame | None) -> PairTests:
    """{(suite, model), (suite, model)} -> the Holm-adjusted exact McNemar p of the two students' accuracy, for
    every pair of ``students`` (leaderboard rows) of one suite with predictions in a common run; ``runs`` is
    suite -> its run ids. Seeds pair within a run (seed s of one with seed s of the other); the discordant pairs
    of every common (run, seed) are pooled."""
    if predictions is None or predictions.empty:
        return {}
    keys = list(dict.fromkeys((str(s), str(m)) for s, m in zip(students["suite"], students["model"], strict=True)))
    correct = {key: _by_run_and_seed(predictions, runs.get(key[0], set()), base_model(key[1])) for key in keys}
    tested: dict[frozenset[Student], float] = {}
    for a, b in combinations(keys, 2):
        common = [k for k in correct[a] if k in correct[b] and correct[a][k].shape == correct[b][k].shape]
        if a[0] == b[0] and common:
            tested[frozenset((a, b))] = mcnemar(np.stack([correct[a][k] for k in common]),
                                                np.stack([correct[b][k] for k in common])).p
    return dict(zip(tested, holm(list(tested.values())), strict=True))


def tie_statement(by: str, tests: PairTests) -> str:
    """How ties on ``by`` were decided, where the paired test could apply (accuracy); '' otherwise."""
    if by != "accuracy":
        return ""
    if not tests:
        return ("No per-example predictions for any two students of one run (runs before schema 4, or not a "
                "classification task): accuracy ties come from overlapping 95% intervals, not paired by test example.")
    return ("Ranked on accuracy with per-example predictions: two students of one suite share a rank unless the exact "
            "McNemar test between them (seed s of one against seed s of the other in the same run, the discordant "
            f"pairs of every common run and seed pooled), Holm-adjusted across the board's {len(tests)} such "
            f"pair{'s' if len(tests) != 1 else ''}, gives p < {ALPHA:g} ({TEST_NAME}); that test, not the intervals, "
            "decides. A pair without predictions in a common run ties where the intervals overlap.")


def _tied(leader: pd.Series, row: pd.Series, by: str, floor_pct: float | None, tests: PairTests) -> bool:
    """Ranked on accuracy with a paired test of the two: not significant. Else intervals overlap or, for a timing
    (:attr:`~harness.metrics.Metric.timing`), values within the floor."""
    pair = frozenset(((str(leader["suite"]), str(leader["model"])), (str(row["suite"]), str(row["model"]))))
    if by == "accuracy" and pair in tests:
        return tests[pair] >= ALPHA
    return _overlap(leader, row, by) or (metric(by).timing and within_floor(leader[by], row[by], floor_pct))


def rank_rows(students: pd.DataFrame, by: str, floor_pct: float | None = None,
              tests: PairTests | None = None) -> tuple[list[str], list[str]]:
    """Competition ranks (shared where the paired accuracy ``tests`` find no difference, across overlapping
    intervals, and for speed within the noise floor) and tie markers of rows already in order."""
    ranks: list[str] = []
    ties: list[str] = []
    leader = None  # the first row of the current group: the one that holds its rank
    for position, (_, row) in enumerate(students.iterrows(), start=1):
        if pd.isna(row[by]):
            ranks.append(UNRANKED)
            ties.append("")
        elif leader is not None and _tied(leader, row, by, floor_pct, tests or {}):
            ranks.append(ranks[-1])
            ties.append(f"={ranks[-1]}")
        else:
            ranks.append(str(position))
            ties.append("")
            leader = row
    return ranks, ties
