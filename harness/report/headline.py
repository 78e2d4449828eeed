"""The first screen of a run report: which student do I ship?

One line per student (per dtype, backend or sequence length where the run
measured several): its size ratio to the teacher, its paired speedup over the
teacher at the smallest batch size measured on the run's first device
(:func:`cell`), its accuracy, and a verdict drawn from tests and intervals,
never from the point estimates alone:

- *faster* or *slower* only when the speedup's 95% interval lies wholly above
  or below 1 and the speedup differs from 1 by more than the run's A/A noise
  floor (:func:`harness.report.tables.speed_verdict`);
- accuracy, where the run kept per-example predictions: against the
  student's *baseline* (named on its line), the paired gain with its
  bootstrap interval and the exact McNemar test, Holm-adjusted across the
  run's students; *more* or *less accurate* only when the adjusted p is
  under 5% (:mod:`harness.report.paired_calls`);
- accuracy without predictions (runs before schema 4): against the teacher,
  unpaired: *more* or *less accurate* only when the interval of the accuracy
  change excludes 0 (:func:`accuracy_change`), that is when the student's and
  the teacher's 95% intervals are disjoint;
- anything else is *within the noise*; sizes are exact (bytes of the stored
  weights), so *smaller* needs no interval.

>>> change = accuracy_change(Estimate(0.95, 0.93, 0.97), Estimate(0.99, 0.98, 0.998))
>>> round(change.value, 2), round(change.low, 2), round(change.high, 2)
(-4.0, -6.8, -1.0)
>>> verdict(48.5, "faster", "same", change)
'smaller and faster, accuracy within the noise'
>>> verdict(3.9, "slower", "worse", change)
'smaller but slower than the teacher, less accurate (-4.0 pp)'
>>> verdict(48.5, "faster", "better", Estimate(2.1), against="scratch-16")
'smaller and faster, more accurate than scratch-16 (+2.1 pp)'
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report import noise, tables
from harness.report.display import speedup_note, speedup_text
from harness.report.formatting import MISSING, format_interval, format_value
from harness.report.model import Table
from harness.report.paired_calls import TEST_NAME, Call, Calls, format_p, pp
from harness.report.predictions import WHY_NONE
from harness.report.tables import Estimate

TITLE = "Which student to ship"
SPEED = {"faster": "faster", "slower": "slower than the teacher", "same": "speed within the noise",
         "unknown": "speed not judged (no interval)", "missing": "speed not measured"}
ACCURACY = {"same": "accuracy within the noise", "unknown": "accuracy not judged"}
#: how the interval of the accuracy change is made
CHANGE_RULE = ("The interval of the accuracy change runs from the student's low end minus the teacher's high end to "
               "the student's high end minus the teacher's low end: it excludes 0 exactly when the two accuracies' "
               "95% intervals are disjoint, the rule the findings use.")
#: said under an unpaired headline
UNPAIRED_NOTE = (f"Accuracy is compared with the teacher's from the two 95% intervals, not paired by test example: "
                 f"{WHY_NONE}, so no paired test (exact McNemar on the same examples) can be made.")
#: how several seeds of a student combine in its paired call
SEEDS_RULE = ("Over several seeds, each test example counts once: each side's correctness is averaged over its "
              "distinct seeds on that example, the gain is the mean of the examples' differences, its interval a "
              "bootstrap over examples (over seeds, then examples, where a side has several), and the exact sign-flip "
              "test over examples decides (McNemar's test with one seed a side); the table 'Against the baseline, "
              "seed by seed' shows each seed.")


def cell(df: pd.DataFrame) -> tuple[str, int] | None:
    """(device, batch size) the headline's speed is taken at: the run's first device and its smallest batch size;
    None when nothing was timed."""
    found = tables.devices(df)
    return (found[0], tables.batch_sizes(df[df["device"] == found[0]])[0]) if found else None


def accuracy_change(ours: Estimate, teacher: Estimate) -> Estimate:
    """``ours`` minus ``teacher`` in percentage points, from ``ours.low - teacher.high`` to ``ours.high -
    teacher.low`` (no interval when either has none): it excludes 0 exactly when the two intervals are disjoint
    (:func:`~harness.report.tables.verdict`)."""
    if math.isnan(ours.value) or math.isnan(teacher.value):
        return Estimate(note=ours.note or teacher.note or "not measured")
    diff = 100 * (ours.value - teacher.value)
    if any(math.isnan(v) for v in (ours.low, ours.high, teacher.low, teacher.high)):
        return Estimate(diff)
    return Estimate(diff, 100 * (ours.low - teacher.high), 100 * (ours.high - teacher.low))


def _pp(value: float) -> str:
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _size(ratio: float) -> str:
    if math.isnan(ratio):
        return "size unknown"
    return "smaller" if ratio > 1.005 else "larger than the teacher" if ratio < 0.995 else "the teacher's size"


def verdict(size_ratio: float, speed: str, accuracy: str, change: Estimate, against: str = "") -> str:
    """The plain verdict of one line: size and speed, then accuracy ('smaller and faster, accuracy within the
    noise'). ``speed`` is a :func:`~harness.report.tables.speed_verdict` (or "missing"), ``accuracy`` a
    :func:`~harness.report.tables.verdict` of the student's accuracy against the teacher's, or with
    ``against`` (the baseline's name) the :attr:`~harness.report.paired_calls.Call.verdict` of its paired test."""
    size, pace = _size(size_ratio), SPEED[speed]
    good, bad = (size in ("smaller",), speed == "faster"), (size.startswith("larger"), speed == "slower")
    if all(bad):
        size = "larger"
    joint = " and " if all(good) or all(bad) else " but " if any(good) and any(bad) else ", "
    than = f" than {against}" if against else ""
    if accuracy in ("better", "worse"):
        quality = f"{'more' if accuracy == 'better' else 'less'} accurate{than} ({_pp(change.value)} pp)"
    elif math.isnan(change.value):
        quality = "accuracy not measured"
    else:
        quality = ACCURACY[accuracy] + (f" of {against}" if against and accuracy == "same" else "")
    return f"{size}{joint}{pace}, {quality}"


def _size_text(ratio: float) -> str:
    if math.isnan(ratio):
        return MISSING
    if abs(ratio - 1) <= 0.005:
        return "same size"
    return f"{ratio:.2f}x smaller" if ratio > 1 else f"{1 / ratio:.2f}x larger"


def _speed(row: pd.Series, floor_pct: float | None) -> tuple[Estimate, str]:
    speedup = Estimate(row["speedup"], row["speedup_low"], row["speedup_high"])
    return speedup, ("missing" if math.isnan(speedup.value) else
                     tables.speed_verdict(speedup, Estimate(1.0, 1.0, 1.0), floor_pct, higher_is_faster=True))


def _first(row: pd.Series, dtype: bool, speedup: Estimate) -> tuple[str, ...]:
    """The cells every line starts with: student, method, (dtype), size, speedup and its interval."""
    return (str(row["model"]), str(row["method"]), *((str(row["dtype"]),) if dtype else ()),
            _size_text(row["size_ratio"]), speedup_text(row["speedup"], bool(row["speedup_paired"])),
            format_interval(speedup.low, speedup.high, "x"))


def _line(row: pd.Series, teacher: pd.Series | None, floor_pct: float | None, dtype: bool) -> tuple[str, ...]:
    speedup, speed = _speed(row, floor_pct)
    teacher_acc = Estimate() if teacher is None else Estimate(teacher["accuracy"], teacher["accuracy_low"],
                                                              teacher["accuracy_high"])
    accuracy = Estimate(row["accuracy"], row["accuracy_low"], row["accuracy_high"])
    change = accuracy_change(accuracy, teacher_acc)
    found = verdict(row["size_ratio"], speed, tables.verdict(accuracy, teacher_acc), change)
    interval = MISSING if math.isnan(change.low) else f"{_pp(change.low)} to {_pp(change.high)}"
    return (*_first(row, dtype, speedup), MISSING if math.isnan(change.value) else _pp(change.value), interval,
            found)


def _paired_line(row: pd.Series, call: Call | None, floor_pct: float | None, dtype: bool,
                 teacher: str) -> tuple[str, ...]:
    """A line whose accuracy is the student's paired call against its baseline (— where it has none)."""
    speedup, speed = _speed(row, floor_pct)
    if call is None:
        found = verdict(row["size_ratio"], speed, "unknown", Estimate(0.0)) + " (no predictions to pair)"
        return (*_first(row, dtype, speedup), MISSING, MISSING, MISSING, MISSING, found)
    gain = Estimate(100 * call.result.gain.value)
    baseline = call.result.baseline
    against = "the teacher" if baseline == teacher else baseline
    found = verdict(row["size_ratio"], speed, call.verdict, gain, against=against)
    return (*_first(row, dtype, speedup), call.result.baseline, pp(call.result.gain.value), call.interval,
            format_p(call.adjusted_p), found)


def _speed_rule(floor: noise.NoiseFloor, interval: str = "interval") -> str:
    over = (f" and the speedup differs from 1 by more than the run's A/A noise floor ({noise.format_pct(floor.pct)})"
            if floor.pct is not None else "")
    return f"faster or slower only when the speedup's {interval} lies wholly above or below 1{over}"


def _rule(floor: noise.NoiseFloor) -> str:
    return (f"Verdicts come from the 95% intervals: {_speed_rule(floor)}; more or less accurate only when the "
            "interval of the accuracy change excludes 0; anything else is within the noise. Size is exact: teacher "
            "bytes / student bytes. " + CHANGE_RULE)


def paired_rule(floor: noise.NoiseFloor, across: str) -> str:
    """The rule under a paired headline, naming the test."""
    return (f"Verdicts: {_speed_rule(floor, '95% interval')}; more or less accurate than its baseline only when the "
            "exact paired test on the test examples where the student and its baseline disagree (each example "
            "once, whatever the seeds), Holm-adjusted "
            f"across the run's {across}, gives p < 0.05 ({TEST_NAME}); anything "
            "else is within the noise. A student's baseline is the scratch student of its architecture, else the "
            "teacher (or the one the suite names). The gain is the student's accuracy minus its baseline's on the "
            "same test examples, its interval a paired bootstrap over examples. Size is exact: teacher bytes / "
            "student bytes.")


def _intro(summary: pd.DataFrame, where: tuple[str, int] | None, paired: bool = False) -> str:
    teachers = summary[summary["role"] == "teacher"]
    if teachers.empty:
        return "The run has no teacher, so no student is compared with one."
    teacher = teachers.iloc[0]
    known = [format_value(teacher["size_bytes"], "bytes") if not pd.isna(teacher["size_bytes"]) else "",
             f"accuracy {format_value(teacher['accuracy'], 'fraction')}%" if not pd.isna(teacher["accuracy"]) else ""]
    facts = ", ".join(k for k in known if k)
    against = f"Each student against the teacher ({teacher['model']}{': ' + facts if facts else ''})"
    against += (" in size and speed, and against its baseline in accuracy, on the same test examples." if paired
                else ".")
    if where is None:
        return f"{against} No latency was measured, so no speed is compared."
    device, size_ = where
    return (f"{against} Speedup vs teacher is the teacher's p50 over the student's at batch size {size_} on {device}, "
            "the smallest batch size measured; the tables further down give every batch size.")


def headline(summary: pd.DataFrame, where: tuple[str, int] | None, floor: noise.NoiseFloor,
             calls: Calls | None = None) -> Table:
    """The headline table from the summary at ``where`` (:func:`~harness.report.tables.summary_table`; without
    timing, a :func:`~harness.report.tables.model_table` with NaN speed columns); accuracy from the students'
    paired ``calls`` against their baselines, or unpaired against the teacher where there are none."""
    teachers = summary[summary["role"] == "teacher"]
    students = summary[summary["role"] != "teacher"]
    several = summary["dtype"].nunique(dropna=False) > 1
    speed = f"speedup at batch size {where[1]}" if where else "speedup vs teacher"
    first = ("student", "method", *(("dtype",) if several else ()), "size vs teacher", speed, "speedup 95% CI")
    if calls is None:
        columns = (*first, "accuracy change (pp)", "accuracy change 95% CI (pp)", "verdict")
        rows = tuple(_line(row, tables.reference_teacher(teachers, row["dtype"]), floor.pct, several)
                     for _, row in students.iterrows())
        rules = [_rule(floor), UNPAIRED_NOTE]
    else:
        columns = (*first, "baseline", "accuracy gain (pp)", "gain 95% CI (pp)", "paired p, Holm-adjusted", "verdict")
        teacher = str(teachers["model"].iloc[0]) if len(teachers) else ""
        rows = tuple(_paired_line(row, calls.of(str(row["model"]), row["dtype"]), floor.pct, several, teacher)
                     for _, row in students.iterrows())
        seeds = any(len(call.result.seeds) > 1 for call in calls.found.values())
        rules = [paired_rule(floor, calls.across), *([SEEDS_RULE] if seeds else [])]
    unpaired = speedup_note(students) if where else None
    intro = _intro(summary, where, calls is not None) + ("" if rows else " The run holds no students.")
    return Table(columns, rows, TITLE, intro, (*rules, *([unpaired] if unpaired else [])))


def without_timing(models: pd.DataFrame) -> pd.DataFrame:
    """A :func:`~harness.report.tables.model_table` shaped like a summary for :func:`headline`: size ratios to
    the first teacher, speed columns NaN."""
    out = models.assign(dtype=None, speedup=math.nan, speedup_low=math.nan, speedup_high=math.nan,
                        speedup_paired=True)
    teacher = out.loc[out["role"] == "teacher", "size_bytes"]
    reference = float(teacher.iloc[0]) if len(teacher) else math.nan
    out["size_ratio"] = [reference / v if v else math.nan for v in out["size_bytes"]]
    return out
