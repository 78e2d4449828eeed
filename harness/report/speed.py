"""Speed findings of one run: each student against the teacher and against its scratch twins, per batch size.

Two models are compared on the paired ``speedup_vs_teacher`` where both have
it (teacher p50 / model p50 from the same rounds, so a slow phase of the
machine cancels), and on their latency p50 otherwise (runs before schema 3,
whose models were timed in separate windows: the sentence says "unpaired").
A difference counts only when the 95% intervals are disjoint and it exceeds
the run's A/A noise floor (:func:`harness.report.tables.speed_verdict`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report import tables
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


def speed_findings(df: pd.DataFrame, pairs: list[tuple[str, str]], labels: dict[str, str],
                   floor_pct: float | None) -> list[str]:
    """A sentence per (model, other model) pair and device, over the batch sizes both were timed at."""
    sentences = []
    for device in tables.devices(df):
        summaries = {size: tables.summary_table(df, size, device=device)
                     for size in tables.batch_sizes(df[df["device"] == device])}
        for ours, other in pairs:
            per_size = {size: compare_at(table, ours, other, floor_pct) for size, table in summaries.items()
                        if {ours, other} <= set(table["model"])}
            if per_size:
                sentences.append(sentence(labels[ours], labels[other], device, per_size))
    return sentences
