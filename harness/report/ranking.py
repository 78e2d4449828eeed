"""Ranks and Pareto flags of the leaderboard (and of a run report's Pareto figure), where paired tests,
intervals and the A/A noise floor decide what counts as a difference.

Shared rank where intervals overlap so no one claims a place the data does
not support: a row whose interval on the ranked metric overlaps that of
the first row of the group above (the row that holds rank k) takes rank k,
and its tie marker reads ``=k``. Ties do not chain through wide intervals: a
row is compared with its group's first row, not the row just above it. A row
that does not overlap opens a new group at its own position (1, 1, 3). When
the ranked metric is a timing (:attr:`~harness.metrics.Metric.timing`), two
rows whose values differ by less than the noise floor share a rank as well.

Ranked on accuracy with per-example predictions, a paired test replaces the
intervals (:func:`paired_accuracy_tests`). Its unit is the test example: runs
of one suite content score the same test examples, so each model's
correctness on an example is averaged over every *distinct* set of
predictions it made in the suite's runs and seeds (a cached model rerun, or
seeds that predict identically, count once: they are not new data), and the
examples' differences are tested exactly
(:func:`harness.measure.paired_quality.paired_accuracy`; with one distinct
set a side, the exact McNemar test). Two models tie unless that test,
two-sided and Holm-adjusted across every tested pair of the board's rows
(the teacher's among them), gives p < 0.05. A pair without predictions on
the same examples ties when the intervals overlap, as before.

A point is off the Pareto front only when another is *clearly* better on one
axis and not clearly worse on the other, by the same tests: clearly more
accurate by the paired test where the two have one, else by disjoint 95%
intervals; clearly faster when the latency intervals are disjoint and the
difference exceeds the noise floor. A difference the data cannot tell apart
never takes a model off the front.

>>> pareto_flags(["a", "b", "c"], [0.9, 0.8, 0.8], [2.0, 1.0, 1.5])
{'a': True, 'b': True, 'c': False}
>>> pareto_flags(["kd", "scratch"], [(0.95, 0.92, 0.98), (0.93, 0.90, 0.96)], [1.01, 1.00], floor_pct=1.7)
{'kd': True, 'scratch': True}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from harness.against_baseline import TEST_NAME, of_model
from harness.measure.paired_quality import holm, paired_accuracy
from harness.metrics import metric
from harness.report.formatting import MISSING
from harness.report.noise import within_floor
from harness.report.variants import base_model

#: the rank of a row whose ranked metric is missing
UNRANKED = MISSING
ALPHA = 0.05
#: whose predictions a row's accuracy comes from: (suite, model as the predictions name it, dtype; '' for the
#: one it was first evaluated in). Variants of one model (``kd-16 [onnx]``) share theirs.
Source = tuple[str, str, str]
#: a point on one axis: its value, or (value, low, high) with its 95% interval
Value = float | tuple[float, float, float]


def source(row: Mapping[Any, Any] | pd.Series) -> Source:
    """The :data:`Source` of a leaderboard row or a summary-table row (no ``suite``: '', no ``dtype``: '')."""
    suite = str(row["suite"]) if "suite" in row else ""
    dtype = str(row["dtype"]) if "dtype" in row and not pd.isna(row["dtype"]) else ""
    return suite, base_model(str(row["model"])), dtype


@dataclass(frozen=True)
class AccuracyTest:
    """The paired accuracy test of two models on the same test examples."""

    p: float  # two-sided, Holm-adjusted across the board's tested pairs
    ahead: Source | None  # the one right more often, per example (None: neither)

    @property
    def clearly_ahead(self) -> Source | None:
        """``ahead`` where the test finds a difference (p < :data:`ALPHA`), else None."""
        return self.ahead if self.p < ALPHA else None


#: two rows of one source (variants of one model) have the same predictions: no difference to test
SAME = AccuracyTest(1.0, None)


@dataclass(frozen=True)
class AccuracyTests:
    """The board's paired accuracy tests: ``pairs`` by the two sources, ``sources`` those with predictions."""

    pairs: Mapping[frozenset[Source], AccuracyTest] = field(default_factory=dict)
    sources: frozenset[Source] = frozenset()

    def between(self, a: Source, b: Source) -> AccuracyTest | None:
        """The test of ``a`` against ``b``; None when the two were not tested (no predictions on the same
        examples), :data:`SAME` for one source with predictions."""
        if a == b:
            return SAME if a in self.sources else None
        return self.pairs.get(frozenset((a, b)))

    def __len__(self) -> int:
        return len(self.pairs)


def _point(v: Value) -> tuple[float, float, float]:
    """(value, low, high); a value without an interval (or with a NaN end) is its own interval."""
    if not isinstance(v, tuple):
        return float(v), float(v), float(v)
    value, low, high = (float(x) for x in v)
    return (value, value, value) if pd.isna(low) or pd.isna(high) else (value, low, high)


def pareto_flags(names: Sequence[str], accuracy: Sequence[Value], latency: Sequence[Value],
                 floor_pct: float | None = None,
                 accuracy_calls: Mapping[frozenset[str], str | None] | None = None) -> dict[str, bool]:
    """For each name, whether its point is on the Pareto front (higher accuracy and lower latency are better):
    no other point is clearly better on one axis and not clearly worse on the other.

    ``accuracy`` and ``latency``: each point's value, or (value, low, high) with its 95% interval (a value
    alone counts as an interval of zero width). Clearly more accurate: where ``accuracy_calls`` has the pair
    (two names -> the one a paired test finds more accurate, None where it finds no difference), that call;
    else the intervals are disjoint. Clearly faster: lower, by more than ``floor_pct`` percent (the A/A noise
    floor) and with disjoint intervals. A point missing either value (NaN) is never on the front and
    dominates nothing. Names must be unique.

    >>> pareto_flags(["kd", "scratch"], [0.95, 0.93], [1.01, 1.00], floor_pct=1.7)
    {'kd': True, 'scratch': False}
    >>> pareto_flags(["kd", "scratch"], [0.95, 0.93], [1.01, 1.00], floor_pct=1.7,
    ...              accuracy_calls={frozenset({"kd", "scratch"}): None})
    {'kd': True, 'scratch': True}
    >>> pareto_flags(["kd", "scratch"], [0.95, 0.93], [(1.5, 1.4, 1.6), (1.0, 0.9, 1.1)])
    {'kd': True, 'scratch': True}
    """
    if not len(names) == len(accuracy) == len(latency):
        raise ValueError("names, accuracy and latency must have the same length")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    acc, lat = [_point(v) for v in accuracy], [_point(v) for v in latency]
    calls = accuracy_calls or {}
    known = [not (pd.isna(a[0]) or pd.isna(t[0])) for a, t in zip(acc, lat, strict=True)]

    def more_accurate(j: int, i: int) -> bool:
        pair = frozenset((names[j], names[i]))
        if pair in calls:
            return calls[pair] == names[j]
        return acc[j][1] > acc[i][2]

    def faster(j: int, i: int) -> bool:
        return (lat[j][0] < lat[i][0] and lat[j][2] < lat[i][1]
                and not within_floor(lat[j][0], lat[i][0], floor_pct))

    def dominates(j: int, i: int) -> bool:
        return ((more_accurate(j, i) and not faster(i, j))
                or (faster(j, i) and not more_accurate(i, j)))

    return {name: known[i] and not any(known[j] and j != i and dominates(j, i) for j in range(len(names)))
            for i, name in enumerate(names)}


def _overlap(upper: pd.Series, lower: pd.Series, by: str) -> bool:
    """Whether two rows' intervals on ``by`` overlap; a row without an interval is the point of its value."""
    def ends(row: pd.Series) -> tuple[float, float]:
        low, high = row[f"{by}_low"], row[f"{by}_high"]
        return (row[by], row[by]) if pd.isna(low) or pd.isna(high) else (low, high)

    (a_low, a_high), (b_low, b_high) = ends(upper), ends(lower)
    return bool(a_low <= b_high and b_low <= a_high)


def _examples(rows: pd.DataFrame) -> bytes:
    """What identifies the test examples a set of predictions is on: their ids and labels, in order."""
    return pd.util.hash_pandas_object(rows[["example", "label"]], index=False).to_numpy().tobytes()


def _vectors(predictions: pd.DataFrame, runs: set[str], of: Source) -> tuple[bytes, np.ndarray] | None:
    """(the test examples, every distinct correctness vector of ``of`` over ``runs`` and their seeds as
    (distinct vectors, examples)); None without predictions, or where its runs and seeds are not on the same
    examples (ids and labels)."""
    _, model, dtype = of
    mine = predictions[predictions["run_id"].isin(runs) & (predictions["model"] == model)]
    if dtype:
        mine = mine[mine["dtype"] == dtype]
    distinct: dict[bytes, np.ndarray] = {}
    examples = set()
    for _, in_run in mine.groupby("run_id", sort=True):
        for _, seed in of_model(in_run, model).groupby("seed", sort=True):  # first dtype; sorted by example
            examples.add(_examples(seed))
            correct = seed["correct"].to_numpy(dtype=bool)
            distinct.setdefault(correct.tobytes(), correct)
    if len(examples) != 1:
        return None
    return examples.pop(), np.stack(list(distinct.values()))


def paired_accuracy_tests(rows: pd.DataFrame, runs: Mapping[str, set[str]],
                          predictions: pd.DataFrame | None) -> AccuracyTests:
    """The paired accuracy test of every two :func:`source`\\ s of ``rows`` (leaderboard rows, or a run's
    summary table) of one suite whose predictions are on the same test examples (ids and labels), two-sided
    and Holm-adjusted across all of them; ``runs`` is suite -> its run ids. Each side is every distinct
    correctness vector it has over the suite's runs and seeds
    (:func:`~harness.measure.paired_quality.paired_accuracy` counts each test example once)."""
    if predictions is None or predictions.empty:
        return AccuracyTests()
    found = {}
    for of in dict.fromkeys(source(row) for _, row in rows.iterrows()):
        vectors = _vectors(predictions, runs.get(of[0], set()), of)
        if vectors is not None:
            found[of] = vectors
    tested: dict[frozenset[Source], tuple[float, Source | None]] = {}
    for a, b in combinations(found, 2):
        (on_a, correct_a), (on_b, correct_b) = found[a], found[b]
        if a[0] == b[0] and on_a == on_b:
            result = paired_accuracy(correct_a, correct_b)
            gain = result.gain.value
            tested[frozenset((a, b))] = result.p, (a if gain > 0 else b if gain < 0 else None)
    adjusted = holm([p for p, _ in tested.values()])
    return AccuracyTests({pair: AccuracyTest(p, ahead) for (pair, (_, ahead)), p in
                          zip(tested.items(), adjusted, strict=True)}, frozenset(found))


def pareto_column(rows: pd.DataFrame, tests: AccuracyTests, floor_pct: float | None) -> list[bool]:
    """The Pareto flag of each of ``rows`` (columns model, accuracy and latency_p50_ms, each with ``_low`` and
    ``_high`` where known; suite and dtype where known): :func:`pareto_flags` with the calls of the paired
    accuracy ``tests`` and the noise floor. The leaderboard's column and the run report's Pareto figure."""
    records = rows.to_dict("records")
    names = [str(i) for i in range(len(records))]
    sources = [source(r) for r in records]
    calls: dict[frozenset[str], str | None] = {}
    for i, j in combinations(range(len(records)), 2):
        test = tests.between(sources[i], sources[j])
        if test is not None:
            ahead = test.clearly_ahead
            calls[frozenset((names[i], names[j]))] = None if ahead is None else names[i if ahead == sources[i] else j]

    def point(record: Mapping[Any, Any], name: str) -> Value:
        return float(record[name]), float(record.get(f"{name}_low", np.nan)), float(record.get(f"{name}_high", np.nan))

    flags = pareto_flags(names, [point(r, "accuracy") for r in records], [point(r, "latency_p50_ms") for r in records],
                         floor_pct, calls)
    return [flags[name] for name in names]


def tie_statement(by: str, tests: AccuracyTests) -> str:
    """How ties on ``by`` were decided, where the paired test could apply (accuracy); '' otherwise."""
    if by != "accuracy":
        return ""
    if not len(tests):
        return ("No per-example predictions of any two models of one suite on the same test examples (runs before "
                "schema 4, or not a classification task): accuracy ties come from overlapping 95% intervals, not "
                "paired by test example.")
    return ("Ranked on accuracy with per-example predictions: two students of one suite share a rank unless a paired "
            "test over the test examples between them, Holm-adjusted across the board's "
            f"{len(tests)} tested pair{'s' if len(tests) != 1 else ''} of models (teacher and students alike), "
            f"gives p < {ALPHA:g} ({TEST_NAME}); that test, not the intervals, decides. The unit is the test "
            "example: each model's correctness on an example is averaged over its distinct predictions in the suite's "
            "runs and seeds (a cached model rerun, or seeds that predict identically, count once). A pair without "
            "predictions on the same test examples ties where the intervals overlap.")


def _tied(leader: pd.Series, row: pd.Series, by: str, floor_pct: float | None, tests: AccuracyTests) -> bool:
    """Ranked on accuracy with a paired test of the two: not significant. Else intervals overlap or, for a timing
    (:attr:`~harness.metrics.Metric.timing`), values within the floor."""
    test = tests.between(source(leader), source(row)) if by == "accuracy" else None
    if test is not None:
        return test.p >= ALPHA
    return _overlap(leader, row, by) or (metric(by).timing and within_floor(leader[by], row[by], floor_pct))


def rank_rows(students: pd.DataFrame, by: str, floor_pct: float | None = None,
              tests: AccuracyTests | None = None) -> tuple[list[str], list[str]]:
    """Competition ranks (shared where the paired accuracy ``tests`` find no difference, across overlapping
    intervals, and for speed within the noise floor) and tie markers of rows already in order."""
    ranks: list[str] = []
    ties: list[str] = []
    leader = None  # the first row of the current group: the one that holds its rank
    for position, (_, row) in enumerate(students.iterrows(), start=1):
        if pd.isna(row[by]):
            ranks.append(UNRANKED)
            ties.append("")
        elif leader is not None and _tied(leader, row, by, floor_pct, tests or AccuracyTests()):
            ranks.append(ranks[-1])
            ties.append(f"={ranks[-1]}")
        else:
            ranks.append(str(position))
            ties.append("")
            leader = row
    return ranks, ties
