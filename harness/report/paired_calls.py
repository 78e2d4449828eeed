"""Each student's accuracy against its baseline, as a report calls it: the paired gain and McNemar, with Holm.

A student's baseline is the scratch student of its architecture, else the
teacher, or the one the suite names (:func:`harness.against_baseline.baseline_of`).
Both are scored on the same test examples, so the call is paired:

- the unit is the test example, counted once whatever the number of seeds:
  each side's correctness is averaged over its distinct seeds per example
  (:func:`harness.measure.paired_quality.paired_accuracy`);
- the gain is the mean of the examples' differences, with a bootstrap 95%
  interval over examples (over seeds, then examples, where a side has several
  seeds), Clopper-Pearson where no example differs;
- the test is the exact sign-flip permutation test over the examples, which
  with one seed a side is the exact McNemar test;
- the p-values of the run's students (one per student and dtype evaluated)
  are adjusted together with Holm's method, and a student is called more or
  less accurate only when its adjusted p is under 5%.

Runs without predictions (before schema 4, or not a classification task)
get no calls: the reports fall back to comparing intervals, and say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.against_baseline import TEST_NAME, AgainstBaseline, baseline_of, pooled
from harness.measure.paired_quality import holm
from harness.report import predictions as examples
from harness.report.variants import base_model

ALPHA = 0.05
__all__ = ["ALPHA", "SMALLEST_P", "TEST_NAME", "Call", "Calls", "calls", "format_p", "p_is", "pp"]


def pp(fraction: float) -> str:
    """A change in percentage points, signed: 0.021 -> '+2.1', never '-0.0'."""
    text = f"{100 * fraction:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


#: what a p-value of exactly 0 stands for: one too small for a float (the binomial tail underflows)
SMALLEST_P = 1e-15


def format_p(p: float) -> str:
    """A p-value with two significant digits: 0.0386 -> '0.039', 2.1e-05 -> '2.1e-05'; 0 (underflowed) '<1e-15'."""
    return f"<{SMALLEST_P:.0e}" if p == 0 else f"{p:.2g}"


def p_is(p: float) -> str:
    """A p-value in a sentence: 'p = 0.039', 'p < 1e-15'."""
    text = format_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


@dataclass(frozen=True)
class Call:
    """One student (in one dtype) against its baseline: the pooled gain and test, and the Holm-adjusted p."""

    result: AgainstBaseline
    dtype: str
    adjusted_p: float

    @property
    def verdict(self) -> str:
        """'better' or 'worse' when the adjusted p is under :data:`ALPHA`, else 'same'."""
        if self.adjusted_p >= ALPHA or self.result.gain.value == 0:
            return "same"
        return "better" if self.result.gain.value > 0 else "worse"

    @property
    def interval(self) -> str:
        """The gain's 95% interval in pp: '-4.2 to -0.6'."""
        return f"{pp(self.result.gain.ci_low)} to {pp(self.result.gain.ci_high)}"


@dataclass(frozen=True)
class Calls:
    """The calls of a run's students, Holm-adjusted together (``family`` tests)."""

    found: Mapping[tuple[str, str], Call]
    family: int

    def of(self, model: str, dtype: str | None = None) -> Call | None:
        """``model``'s call (a variant's label names its model) in ``dtype``, else in its first dtype."""
        mine = [call for (name, _), call in self.found.items() if name == base_model(model)]
        return next((c for c in mine if c.dtype == dtype), mine[0] if mine else None)

    def students(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.found))

    @property
    def across(self) -> str:
        """What Holm adjusted across: '2 students', or '4 students and dtypes' where a student has several."""
        if self.family == len(self.students()):
            return f"{self.family} student{'s' if self.family != 1 else ''}"
        return f"{self.family} students and dtypes"


def _baseline(resolved: Mapping[str, Any], student: str, teacher: str) -> str:
    try:
        return baseline_of(resolved, student)
    except KeyError:  # a student the manifest's suite does not name (results put together by hand)
        return teacher


def _pair(predictions: pd.DataFrame, student: str, dtype: str, baseline: str) -> AgainstBaseline | None:
    """:func:`~harness.against_baseline.pooled` of ``student`` in ``dtype`` against ``baseline`` in the same
    dtype where it has it, else in its first."""
    chosen = pd.concat([examples.of_model(predictions, student, dtype),
                        examples.of_model(predictions, baseline, dtype)])
    return pooled(chosen, student, baseline)


def calls(predictions: pd.DataFrame | None, resolved: Mapping[str, Any], students: Sequence[str],
          teacher: str) -> Calls | None:
    """The calls of ``students`` (model names, variants' labels allowed) from a run's ``predictions`` and its
    resolved suite; None when the run has no predictions at all."""
    if predictions is None or predictions.empty:
        return None
    found: dict[tuple[str, str], AgainstBaseline] = {}
    for student in dict.fromkeys(base_model(s) for s in students):
        baseline = _baseline(resolved, student, teacher)
        for dtype in examples.dtypes(predictions, student):
            result = _pair(predictions, student, dtype, baseline)
            if result is not None:
                found[(student, dtype)] = result
    adjusted = holm([r.test.p for r in found.values()])
    return Calls({key: Call(r, key[1], p) for (key, r), p in zip(found.items(), adjusted, strict=True)}, len(found))
