"""The report's tables of quality against a reference, from per-example predictions: each seed of a student
against its baseline, and the classes compression costs most.

- :func:`seeds_section`: for each student with several seeds, each seed's
  paired gain (interval) and McNemar test against the same seed of its
  baseline, then the pooled line, the one the report's calls come from
  (:mod:`harness.report.paired_calls`).
- :func:`classes_section`: accuracy per class of the test split, the
  teacher's and each student's, and each student's drop against the teacher
  in percentage points; sorted by the largest drop of any student, at most
  :data:`MAX_CLASSES` classes shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.report import predictions as examples
from harness.report.formatting import format_value
from harness.report.model import Section, Table
from harness.report.paired_calls import Calls, format_p, pp
from harness.report.variants import base_model

MAX_CLASSES = 10
SEEDS_TITLE = "Against the baseline, seed by seed"
CLASSES_TITLE = "Classes compression costs most"
SEEDS_INTRO = ("Each seed of a student against the same seed of its baseline (a baseline with one seed, the teacher, "
               "against every seed; exact McNemar), then the call over every seed, where each test example counts "
               "once: each side's correctness is averaged over its distinct seeds per example, the gain is the mean "
               "of the examples' differences, and the exact sign-flip test over examples decides (with a bootstrap "
               "over seeds then examples where both sides have several seeds). Seeds repeat a training procedure on "
               "the same examples; they are not new examples. Only the call's p-value is Holm-adjusted "
               "(across the run's {across}) and decides. For / against: examples' worth of evidence for the student "
               "and for its baseline (per seed, the discordant pairs).")


def seeds_section(calls: Calls | None) -> Section | None:
    """The per-seed table of the students with several seeds; None when none has."""
    if calls is None:
        return None
    several = {key: call for key, call in calls.found.items() if len(call.result.seeds) > 1}
    if not several:
        return None
    dtypes = {name: sum(n == name for n, _ in calls.found) for name, _ in calls.found}
    rows = []
    for (name, dtype), call in several.items():
        student = f"{name} ({dtype})" if dtypes[name] > 1 else name
        result = call.result
        for seed, (gain, test) in zip(result.seeds, result.per_seed, strict=True):
            interval = f"{pp(gain.ci_low)} to {pp(gain.ci_high)}"
            rows.append((student, result.baseline, str(seed), pp(gain.value), interval, f"{test.b} / {test.c}",
                         format_p(test.p), ""))
        rows.append((student, result.baseline, f"all {len(result.seeds)}, each example once", pp(result.gain.value),
                     call.interval, f"{result.test.b:.4g} / {result.test.c:.4g}", format_p(result.test.p),
                     format_p(call.adjusted_p)))
    columns = ("student", "baseline", "seed", "gain (pp)", "gain 95% CI (pp)", "for / against (examples)",
               "p", "Holm-adjusted p")
    table = Table(columns, tuple(rows))
    return Section(SEEDS_TITLE, (SEEDS_INTRO.format(across=calls.across),), (table,))


def _per_class(correct: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Accuracy on each class: (seeds, examples) correctness pooled over seeds."""
    return np.array([correct[:, labels == k].mean() for k in classes])


def class_label(class_id: int, names: Sequence[Any] | None) -> str:
    """A class as the report shows it: its label where the dataset's file named it (``names``, the manifest's
    ``dataset_info.classes`` by id), else its id.

    >>> class_label(1, ["cat", "dog"]), class_label(2, ["cat", "dog"]), class_label(0, None)
    ('dog', '2', '0')
    """
    return str(names[class_id]) if names is not None and 0 <= class_id < len(names) else str(class_id)


def classes_section(predictions: pd.DataFrame | None, teacher: str | None, students: Sequence[str],
                    class_names: Sequence[Any] | None = None) -> Section | None:
    """The per-class table against ``teacher``; None without the teacher's predictions or any student's. Classes
    are named by ``class_names`` (by id) where the data had labels."""
    if predictions is None or teacher is None or examples.of_model(predictions, teacher).empty:
        return None
    first = examples.of_model(predictions, teacher)
    first = first[first["seed"] == first["seed"].iloc[0]]
    labels = first["label"].to_numpy(dtype=int)
    classes = np.unique(labels)
    reference = _per_class(examples.correctness(predictions, teacher), labels, classes)
    accuracy = {}
    for student in dict.fromkeys(base_model(s) for s in students):
        correct = examples.correctness(predictions, student)
        if correct.size and correct.shape[1] == labels.size:
            accuracy[student] = _per_class(correct, labels, classes)
    if not accuracy or classes.size < 2:
        return None
    drops = {s: reference - a for s, a in accuracy.items()}
    worst = np.max(np.stack(list(drops.values())), axis=0)
    order = sorted(range(classes.size), key=lambda i: (-worst[i], classes[i]))[:MAX_CLASSES]
    columns = ("class", "examples", "teacher (%)", *(c for s in accuracy for c in (f"{s} (%)", f"{s} drop (pp)")))
    rows = tuple((class_label(int(classes[i]), class_names), str(int((labels == classes[i]).sum())),
                  format_value(reference[i], "fraction"),
                  *(c for s in accuracy for c in (format_value(accuracy[s][i], "fraction"),
                                                   format_value(100 * drops[s][i], "pp"))))
                 for i in order)
    seeds = "seeds pooled, " if predictions["seed"].nunique() > 1 else ""
    intro = (f"Accuracy on each class of the test split ({seeds}from the per-example predictions), the teacher's and "
             "each student's; drop is the teacher's accuracy minus the student's in percentage points. Sorted by the "
             "largest drop of any student: the classes compression costs most come first.")
    cut = classes.size - len(order)
    notes = (f"{len(order)} of {classes.size} classes shown; the other {cut} cost no student more than the last one "
             "shown.",) if cut else ()
    return Section(CLASSES_TITLE, tables=(Table(columns, rows, intro=intro, notes=notes),))
