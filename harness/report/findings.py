"""The findings of one run, as sentences: what ran slower than the teacher, sizes, accuracy, then speed.

In that order: each model that ran slower than the teacher, with its numbers
(:func:`harness.report.speed.slower_than_teacher`); the students' sizes
against the teacher's; each student's accuracy; each student's speed against
the teacher and the scratch students of its architecture at every batch
size; the rule every comparison follows.

Accuracy, where the run kept per-example predictions, is each student
against its baseline on the same test examples: the paired gain with its
interval and the exact McNemar test, Holm-adjusted across the run's students
(:mod:`harness.report.paired_calls`); clearly better or worse only when the
adjusted p is under 5%. Without predictions (runs before schema 4) it is each
student against the teacher and the scratch students of its architecture,
called clear only when the two 95% intervals do not overlap. A speed
difference is called clear only when the intervals do not overlap and it
exceeds the run's A/A noise floor.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report import noise, tables
from harness.report.formatting import format_value
from harness.report.paired_calls import ALPHA, TEST_NAME, Call, Calls, p_is, pp
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


def _closing(floor: noise.NoiseFloor, calls: Calls | None = None) -> str:
    speed = ("speed differences are judged by their 95% intervals alone (this run has no A/A noise floor)"
             if floor.pct is None else "a speed difference is called clear only when the two 95% intervals do not "
             f"overlap and it exceeds the run's A/A noise floor ({noise.format_pct(floor.pct)})")
    if calls is not None:
        return (f"Accuracy is called clearly better or worse only when the exact paired test on the same test "
                f"examples (each example once, whatever the seeds; McNemar with one seed a side), "
                f"Holm-adjusted across the run's {calls.across}, "
                f"gives p < {ALPHA:g} ({TEST_NAME}); {speed}.")
    if floor.pct is None:
        return ("A difference is called clear only when the two 95% intervals do not overlap; this run has no A/A "
                "noise floor, so speed differences are judged by their intervals alone.")
    return ("A difference is called clear only when the two 95% intervals do not overlap; a speed difference "
            f"also has to exceed the run's A/A noise floor ({noise.format_pct(floor.pct)}).")


def paired_sentence(name: str, baseline: str, call: Call) -> str:
    """One student's paired call against its baseline, with its numbers."""
    result, test = call.result, call.result.test
    seeds = f" over {len(result.seeds)} seeds" if len(result.seeds) > 1 else ""
    tail = {"better": "clearly better", "worse": "clearly worse", "same": "no measurable difference"}[call.verdict]
    shown = p_is(call.adjusted_p)
    shown += "" if shown.startswith("p <") else f" {'<' if call.adjusted_p < ALPHA else '>='} {ALPHA:g}"
    return (f"{name} vs its baseline, {baseline}: gain {pp(result.gain.value)} pp (95% interval {call.interval}) "
            f"on {result.gain.n} test examples{seeds}; {test.test} on {test.discordant} examples where they differ "
            f"({_worth(test.b)} for, {_worth(test.c)} against), Holm-adjusted {shown}: {tail}.")


def _worth(examples: float) -> str:
    """Examples' worth of evidence: a count with one seed a side (7), a fraction over seeds (6.4)."""
    return f"{examples:g}" if float(examples).is_integer() else f"{examples:.1f}"


def _paired_accuracy(students: list[str], calls: Calls, label: dict[str, str]) -> list[str]:
    """Each student's paired call (once per model, not per backend or sequence length), then the tally."""
    sentences = []
    tally = {"better": 0, "same": 0, "worse": 0}
    for student in dict.fromkeys(base_model(s) for s in students):
        name = label.get(student, student)
        call = calls.of(student)
        if call is None:
            sentences.append(f"{name}: no predictions of it or of its baseline to pair, no accuracy call.")
            continue
        sentences.append(paired_sentence(name, label.get(call.result.baseline, call.result.baseline), call))
        tally[call.verdict] += 1
    if sum(tally.values()):
        sentences.append(f"Against their baselines ({TEST_NAME}, 5%), {tally['better']} of {sum(tally.values())} "
                         f"students came out clearly better, {tally['same']} showed no measurable difference and "
                         f"{tally['worse']} came out clearly worse.")
    return sentences


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


def _interval_accuracy(students: list[str], teachers: list[str], method: dict[str, str], arch: dict[str, str],
                        accuracy: dict[str, tables.Estimate], label: dict[str, str]) -> list[str]:
    """Without predictions: each student against the teacher and its scratch twins, from the 95% intervals."""
    sentences = []
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
    if sum(tally.values()):
        sentences.append(f"Against scratch students of the same architecture, {tally['better']} of "
                         f"{sum(tally.values())} comparisons came out clearly better, {tally['same']} showed no "
                         f"measurable difference and {tally['worse']} came out clearly worse"
                         + (f" ({tally['unknown']} could not be judged)." if tally["unknown"] else "."))
    elif not arch and any(method[s] == "scratch" for s in students):
        sentences.append("The manifest names no student architectures, so no student was compared with the "
                         "scratch students.")
    return sentences


def findings(df: pd.DataFrame, models: pd.DataFrame, by_cell: Summaries, arch: dict[str, str],
             floor: noise.NoiseFloor, calls: Calls | None = None) -> tuple[str, ...]:
    """Every finding of the run in reading order (see the module docstring). ``models`` is the model table,
    ``by_cell`` the summaries per (device, batch size), ``arch`` student -> architecture (from the manifest),
    ``calls`` the students' paired calls against their baselines (None: the run has no predictions)."""
    order = tables.model_order(df)
    first = df.drop_duplicates("model").set_index("model")
    method = {m: str(first.loc[m, "method"]) for m in order}
    label = {m: f"{m} ({method[m]})" for m in order}
    teachers = [str(m) for m in pd.unique(df.loc[df["role"] == "teacher", "model"])]
    students = [m for m in order if m not in teachers]
    sentences = [*slower_than_teacher(by_cell, label, floor.pct), *sizes(models, label)]
    if calls is not None:
        sentences += _paired_accuracy(students, calls, label)
    else:
        sentences += _interval_accuracy(students, teachers, method, arch, tables.accuracies(df), label)
    if not students:
        sentences.append("The run holds no students to compare.")
    sentences += speed_findings(by_cell, _speed_pairs(students, teachers, method, arch), label, floor.pct)
    sentences.append(_closing(floor, calls))
    return tuple(sentences)
