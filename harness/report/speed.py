"""Speed findings of one run: who ran slower than the teacher, and each student against the teacher and
against its scratch twins, per batch size.

Two models are compared on the paired ``speedup_vs_teacher`` where both have
it (teacher p50 / model p50 from the same rounds, so a slow phase of the
machine cancels), and on their latency p50 otherwise (runs before schema 3,
whose models were timed in separate windows: the sentence says "unpaired").
A difference counts only when the 95% intervals are disjoint and it exceeds
the run's A/A noise floor (:func:`harness.report.tables.speed_verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.report import tables
from harness.report.formatting import format_interval, format_value
from harness.report.tables import Estimate

VERDICT_WORDS = {"faster": "faster", "slower": "slower", "same": "no measurable difference", "unknown": "not judged"}


def _speed(row: dict[str, Any], paired: bool) -> Estimate:
    if paired:
        return Estimate(row["speedup"], row["speedup_low"], row["speedup_high"])
    return Estimate(row["latency_p50_ms"], row["latency_p50_ms_low"], row["latency_p50_ms_high"])


def _times_faster(ours: Estimate, other: Estimate, paired: bool) -> float:
    """How many times faster ``ours`` is than ``other`` (below 1: slower)."""
    return ours.value / other.value if paired else other.value / ours.value


def compare_at(table: pd.DataFrame, ours: str, other: str, floor_pct: float | None) -> tuple[str, float, bool]:
    """(verdict, times faster, paired) of model ``ours`` against ``other`` in one summary table (first dtype)."""
    first = table.drop_duplicates("model").set_index("model")
    a = {str(k): v for k, v in first.loc[ours].to_dict().items()}
    b = {str(k): v for k, v in first.loc[other].to_dict().items()}
    paired = bool(a["speedup_paired"] and b["speedup_paired"])
    mine, theirs = _speed(a, paired), _speed(b, paired)
    found = tables.speed_verdict(mine, theirs, floor_pct, higher_is_faster=paired)
    return found, _times_faster(mine, theirs, paired), paired


def _clause(found: str, cases: list[tuple[int, float]]) -> str:
    if found in ("faster", "slower"):
        sizes = ", ".join(f"{size} ({ratio:.2f}x)" for size, ratio in cases)
    else:
        sizes = ", ".join(str(size) for size, _ in cases)
    why = " (a value or an interval is missing)" if found == "unknown" else ""
    return f"{VERDICT_WORDS[found]} at batch size{'s' if len(cases) > 1 else ''} {sizes}{why}"


def sentence(ours: str, other: str, device: str, per_size: dict[int, tuple[str, float, bool]]) -> str:
    """One sentence: at which batch sizes ``ours`` was faster, slower, or not measurably different."""
    grouped: dict[str, list[tuple[int, float]]] = {}
    for size, (found, ratio, _) in per_size.items():
        grouped.setdefault(found, []).append((size, ratio))
    paired = all(p for _, _, p in per_size.values())
    basis = "paired speedup vs teacher" if paired else "unpaired p50s, timed in separate windows"
    clauses = [_clause(found, grouped[found]) for found in VERDICT_WORDS if found in grouped]
    return f"{ours} vs {other}, speed on {device} ({basis}): {'; '.join(clauses)}."


Summaries = Mapping[tuple[str, int], pd.DataFrame]


def summaries(df: pd.DataFrame) -> dict[tuple[str, int], pd.DataFrame]:
    """:func:`~harness.report.tables.summary_table` of every (device, batch size) timed, in report order."""
    return {(device, size): tables.summary_table(df, size, device=device) for device in tables.devices(df)
            for size in tables.batch_sizes(df[df["device"] == device])}


def speed_findings(by_cell: Summaries, pairs: list[tuple[str, str]], labels: dict[str, str],
                   floor_pct: float | None) -> list[str]:
    """A sentence per (model, other model) pair and device, over the batch sizes both were timed at."""
    sentences = []
    for device in dict.fromkeys(device for device, _ in by_cell):
        for ours, other in pairs:
            per_size = {size: compare_at(table, ours, other, floor_pct) for (d, size), table in by_cell.items()
                        if d == device and {ours, other} <= set(table["model"])}
            if per_size:
                sentences.append(sentence(labels[ours], labels[other], device, per_size))
    return sentences


def _slower(row: dict[str, Any], teacher: dict[str, Any], floor_pct: float | None) -> tuple[float, str] | None:
    """(times slower, the numbers) when ``row`` is slower than ``teacher`` beyond its interval and the floor."""
    paired = bool(row["speedup_paired"])
    mine, theirs = _speed(row, paired), (Estimate(1.0, 1.0, 1.0) if paired else _speed(teacher, paired))
    if tables.speed_verdict(mine, theirs, floor_pct, higher_is_faster=paired) != "slower":
        return None
    if paired:
        return 1 / mine.value, (f"speedup {format_value(mine.value, 'x')}, 95% interval "
                                f"{format_interval(mine.low, mine.high, 'x')}")
    return mine.value / theirs.value, (f"p50 {format_value(mine.value, 'ms')} ms against "
                                       f"{format_value(theirs.value, 'ms')} ms, timed in separate windows")


def _against_teacher(table: pd.DataFrame) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(row, the teacher row it is compared with) for every row of a summary but the teacher's first: a
    student against the teacher of its dtype (or the first), the teacher in another dtype against its first
    dtype, unpaired (the two never ran in the same paired rounds)."""
    rows = [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
    teachers = [r for r in rows if r["role"] == "teacher"]
    if not teachers:
        return []
    pairs = []
    for row in rows[1:] if rows[0] is teachers[0] else rows:
        if row["role"] == "teacher":
            pairs.append(({**row, "speedup_paired": False}, teachers[0]))
        else:
            pairs.append((row, next((t for t in teachers if t["dtype"] == row["dtype"]), teachers[0])))
    return pairs


def slower_than_teacher(by_cell: Summaries, labels: dict[str, str], floor_pct: float | None) -> list[str]:
    """A sentence per model and device that ran slower than the teacher, with its numbers at each batch size
    where it did (a student on its paired speedup, the teacher in another dtype on the two p50s)."""
    found: dict[tuple[str, str], list[tuple[int, float, str]]] = {}
    for (device, size), table in by_cell.items():
        several = table["dtype"].nunique(dropna=False) > 1
        for row, teacher in _against_teacher(table):
            slow = _slower(row, teacher, floor_pct)
            if slow is not None:
                label = labels.get(str(row["model"]), str(row["model"])) + (f" as {row['dtype']}" if several else "")
                found.setdefault((label, device), []).append((size, *slow))
    sentences = []
    for (label, device), cases in found.items():
        if len(cases) == 1:
            size, times, numbers = cases[0]
            sentences.append(f"{label} ran {times:.2f}x slower than the teacher at batch size {size} on {device}: "
                             f"{numbers}.")
        else:
            each = " and ".join(f"at batch size {size} ({times:.2f}x slower: {numbers})"
                                for size, times, numbers in cases)
            sentences.append(f"{label} ran slower than the teacher on {device} {each}.")
    return sentences
