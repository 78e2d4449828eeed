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
A Pareto point is one that no other point matches or beats in both accuracy
and median latency while beating it in one; latencies closer than the noise
floor count as equal there.

>>> pareto_flags(["a", "b", "c"], [0.9, 0.8, 0.8], [2.0, 1.0, 1.5])
{'a': True, 'b': True, 'c': False}
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from harness.metrics import metric
from harness.report.formatting import MISSING
from harness.report.noise import within_floor

#: the rank of a row whose ranked metric is missing
UNRANKED = MISSING


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


def _tied(leader: pd.Series, row: pd.Series, by: str, floor_pct: float | None) -> bool:
    """Intervals overlap or, for a timing (:attr:`~harness.metrics.Metric.timing`), values within the floor."""
    return _overlap(leader, row, by) or (metric(by).timing and within_floor(leader[by], row[by], floor_pct))


def rank_rows(students: pd.DataFrame, by: str, floor_pct: float | None = None) -> tuple[list[str], list[str]]:
    """Competition ranks (shared across overlapping intervals, and for speed within the noise floor) and tie
    markers of rows already in order."""
    ranks: list[str] = []
    ties: list[str] = []
    leader = None  # the first row of the current group: the one that holds its rank
    for position, (_, row) in enumerate(students.iterrows(), start=1):
        if pd.isna(row[by]):
            ranks.append(UNRANKED)
            ties.append("")
        elif leader is not None and _tied(leader, row, by, floor_pct):
            ranks.append(ranks[-1])
            ties.append(f"={ranks[-1]}")
        else:
            ranks.append(str(position))
            ties.append("")
            leader = row
    return ranks, ties
