"""The findings of one run, as sentences: what ran slower than the teacher, sizes, accuracy, then speed.

In that order: each model that ran slower than the teacher, with its numbers
(:func:`harness.report.speed.slower_than_teacher`); the students' sizes
against the teacher's; each student's accuracy against the teacher and
against the scratch students of its architecture; each student's speed
against the teacher and those scratch students at every batch size; the rule
every comparison follows. A difference is called clear only when the two 95%
intervals do not overlap, and a speed difference also has to exceed the run's
A/A noise floor.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report import noise, tables
from harness.report.formatting import format_value
from harness.report.speed import Summaries, slower_than_teacher, speed_findings
from harness.report.variants import base_model


def compare_accuracy(name: str, ours: tables.Estimate, other_name: str, other: tables.Estimate) -> tuple[str, str]:
    """The :func:`~harness.report.tables.verdict` of ``ours`` against ``other`` and the sentence saying it."""
    if math.isnan(ours.value) or math.isnan(other.value):
        reason = ours.note if math.isnan(ours.value) else other.note
        return "unknown", f"{name} vs {other_name}: accuracy missing ({reason}), no comparison."
    head = f"{name} vs {other_name}: {100 * ours.value:.1f}% vs {100 * other.value:.1f}%"
    diff = f"{100 * (ours.value - other.value):+.1f} pp"
    found = tables.verdict(ours, other)
    tail = {"unknown": f"no intervals to judge by ({diff} on the point estimates)",
            "better": f"intervals disjoint: clearly better ({diff})",
            "worse": f"intervals disjoint: clearly worse ({diff})",
            "same": "intervals overlap: no measurable difference"}[found]
    return found, f"{head}, {tail}."


def _speed_pairs(students: list[str], teachers: list[str], method: dict[str, str],
                 arch: dict[str, str]) -> list[tuple[str, str]]:
    """(student, teacher of the same backend and sequence length where there is one) for every student, then
    (student, scratch twin of its architecture)."""
    def variant(label: str) -> str:
        return label.removeprefix(base_model(label))

    pairs = []
    for student in students if teachers else []:
        pairs.append((student, next((t for t in teachers if variant(t) == variant(student)), teachers[0])))
    for student in students:
        if method[student] != "scratch" and student in arch:
            pairs += [(student, s) for s in students if method[s] == "scratch" and arch.get(s) == arch[student]]
    return pairs


def _closing(floor: noise.NoiseFloor) -> str:
    if floor.pct is None:
        return ("A difference is called clear only when the two 95% intervals do not overlap; this run has no A/A "
                "noise floor, so speed differences are judged by their intervals alone.")
    return ("A difference is called clear only when the two 95% intervals do not overlap; a speed difference "
            f"also has to exceed the run's A/A noise floor ({noise.format_pct(floor.pct)}).")


def _versus(value: float, reference: float) -> str:
    if value < reference:
        return f"{reference / value:.2f}x smaller"
    return f"{value / reference:.2f}x larger" if value > reference else "the same"


def sizes(models: pd.DataFrame, label: dict[str, str]) -> list[str]:
    """The students' stored sizes against the teacher's (a :func:`~harness.report.tables.model_table`): one
    sentence for all, and one more naming any student that is no smaller than the teacher."""
    teachers = models[models["role"] == "teacher"]
    students = models[(models["role"] != "teacher") & models["size_bytes"].notna()]
    if teachers.empty or students.empty or pd.isna(teachers["size_bytes"].iloc[0]):
        return []
    reference = float(teachers["size_bytes"].iloc[0])
    shown = {label.get(m, m): float(v) for m, v in zip(students["model"], students["size_bytes"], strict=True)}
    each = ", ".join(f"{name} {format_value(v, 'bytes')} ({_versus(v, reference)})" for name, v in shown.items())
    sentences = [f"Stored size against the teacher's {format_value(reference, 'bytes')}: {each}."]
    heavy = [f"{name} ({format_value(v, 'bytes')})" for name, v in shown.items() if v >= reference]
    if heavy:
        sentences.append(f"No smaller than the teacher as stored: {', '.join(heavy)}.")
    return sentences


def findings(df: pd.DataFrame, models: pd.DataFrame, by_cell: Summaries, arch: dict[str, str],
             floor: noise.NoiseFloor) -> tuple[str, ...]:
    """Every finding of the run in reading order (see the module docstring). ``models`` is the model table,
    ``by_cell`` the summaries per (device, batch size), ``arch`` student -> architecture (from the manifest)."""
    order = tables.model_order(df)
    first = df.drop_duplicates("model").set_index("model")
    method = {m: str(first.loc[m, "method"]) for m in order}
    label = {m: f"{m} ({method[m]})" for m in order}
    teachers = [str(m) for m in pd.unique(df.loc[df["role"] == "teacher", "model"])]
    students = [m for m in order if m not in teachers]
    accuracy = tables.accuracies(df)
    sentences = [*slower_than_teacher(by_cell, label, floor.pct), *sizes(models, label)]
    tally = {"better": 0, "same": 0, "worse": 0, "unknown": 0}
    for student in students:
        ours = accuracy[student]
        if teachers:
            sentences.append(compare_accuracy(label[student], ours, label[teachers[0]], accuracy[teachers[0]])[1])
        if method[student] == "scratch" or student not in arch:
            continue
        for other in (s for s in students if method[s] == "scratch" and arch.get(s) == arch[student]):
            found, sentence = compare_accuracy(label[student], ours, label[other], accuracy[other])
            sentences.append(sentence)
            tally[found] += 1
    if not students:
        sentences.append("The run holds no students to compare.")
    if sum(tally.values()):
        sentences.append(f"Against scratch students of the same architecture, {tally['better']} of "
                         f"{sum(tally.values())} comparisons came out clearly better, {tally['same']} showed no "
                         f"measurable difference and {tally['worse']} came out clearly worse"
                         + (f" ({tally['unknown']} could not be judged)." if tally["unknown"] else "."))
    elif not arch and any(method[s] == "scratch" for s in students):
        sentences.append("The manifest names no student architectures, so no student was compared with the "
                         "scratch students.")
    sentences += speed_findings(by_cell, _speed_pairs(students, teachers, method, arch), label, floor.pct)
    sentences.append(_closing(floor))
    return tuple(sentences)
