"""Each student against its baseline, on the same test examples: the paired gain and the exact McNemar test.

A student's baseline is what it must beat to be worth its method:

- the one it names (``baseline: scratch-cnn8``), else
- the scratch student of the same architecture (same ``arch`` and
  ``params``; a student whose method is the single step ``scratch``), else
- the teacher: for ``init: teacher`` students (pruned, quantized, cast
  copies), for the scratch students themselves, and for any student with no
  scratch twin.

Rows (per seed, seed ``s`` of the student against seed ``s`` of the baseline,
or the teacher's one seed): ``accuracy_gain_vs_baseline`` with a paired
bootstrap interval over examples, and ``mcnemar_p_vs_baseline``: one seed
against one seed, the exact McNemar test. Across seeds, :func:`pooled` gives
the one call a report, compare and the leaderboard make
(:func:`harness.measure.paired_quality.paired_accuracy`): the unit is the
test example, counted once whatever the number of seeds. Each side's
correctness is averaged over its distinct seeds per example (a deterministic
student's identical seeds count once; the teacher's one seed is not reused as
new data for every student seed), and the examples' differences are tested
with the exact sign-flip permutation test, which is McNemar's with one seed a
side; reports adjust those p-values across the run's students with Holm's
method. Each model is paired in the dtype it was first evaluated in (the one
it was built in).

>>> resolved = {"teacher": {"name": "t"}, "students": [
...     {"name": "scratch-8", "arch": "cnn1d", "params": {"c": 8}, "init": "random", "method": [{"name": "scratch"}]},
...     {"name": "kd-8", "arch": "cnn1d", "params": {"c": 8}, "init": "random", "method": [{"name": "kd"}]},
...     {"name": "int8", "init": "teacher", "method": [{"name": "quantize"}]}]}
>>> [baseline_of(resolved, s) for s in ("scratch-8", "kd-8", "int8")]
['t', 'scratch-8', 't']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.measure.paired_quality import McNemar, PairedAccuracy, mcnemar, paired_accuracy, paired_gain
from harness.measure.quality import Estimate
from harness.rows import Row, Status

GAIN, MCNEMAR = "accuracy_gain_vs_baseline", "mcnemar_p_vs_baseline"
#: how reports name the test behind a clear call
TEST_NAME = "exact paired test over test examples (McNemar with one seed a side), Holm-adjusted"


def _is_scratch(spec: Mapping[str, Any]) -> bool:
    steps = spec.get("method") or []
    return spec.get("init", "random") == "random" and len(steps) == 1 and steps[0].get("name") == "scratch"


def baseline_of(resolved: Mapping[str, Any], student: str) -> str:
    """The name of ``student``'s baseline in a resolved suite (``Suite.resolved()`` or a manifest's ``suite``)."""
    students = list(resolved.get("students") or [])
    spec = next((s for s in students if s.get("name") == student), None)
    teacher = str((resolved.get("teacher") or {}).get("name", "teacher"))
    if spec is None:
        raise KeyError(f"no student {student!r} in the suite")
    if spec.get("baseline"):
        return str(spec["baseline"])
    if spec.get("init", "random") == "teacher" or _is_scratch(spec):
        return teacher
    twin = next((s for s in students if s is not spec and _is_scratch(s) and s.get("arch") == spec.get("arch")
                 and s.get("params") == spec.get("params")), None)
    return str(twin["name"]) if twin is not None else teacher


@dataclass(frozen=True)
class AgainstBaseline:
    """One student against its baseline: each seed's gain and McNemar test, and the call over every seed
    (:func:`~harness.measure.paired_quality.paired_accuracy`: each test example once)."""

    student: str
    baseline: str
    seeds: tuple[int, ...]
    per_seed: tuple[tuple[Estimate, McNemar], ...]
    test: PairedAccuracy

    @property
    def gain(self) -> Estimate:
        return self.test.gain


def of_model(predictions: pd.DataFrame, model: str, dtype: str | None = None) -> pd.DataFrame:
    """``model``'s predictions in ``dtype`` where it has them, else in the dtype it was first evaluated in
    (the one it was built in); sorted by seed, then example."""
    mine = predictions[predictions["model"] == model]
    if mine.empty:
        return mine
    dtypes = list(dict.fromkeys(str(d) for d in mine["dtype"]))
    chosen = dtype if dtype in dtypes else dtypes[0]
    return mine[mine["dtype"] == chosen].sort_values(["seed", "example"], kind="stable")


def _correctness(predictions: pd.DataFrame, model: str) -> dict[int, np.ndarray]:
    """seed -> the model's correctness on each test example, in example order, in its first dtype."""
    rows = of_model(predictions, model)
    return {seed: rows.loc[rows["seed"] == seed, "correct"].to_numpy(dtype=bool)
            for seed in sorted({int(s) for s in rows["seed"]})}


def pooled(predictions: pd.DataFrame, student: str, baseline: str) -> AgainstBaseline | None:
    """``student`` against ``baseline`` from a run's predictions; None when either has none (not measured,
    failed, or a run written before predictions were kept). Per seed, seed ``s`` of the student meets seed
    ``s`` of the baseline, or a baseline's one seed (the teacher); the call takes every seed of each side, each
    test example once (:func:`~harness.measure.paired_quality.paired_accuracy`)."""
    mine, theirs = _correctness(predictions, student), _correctness(predictions, baseline)
    if not mine or not theirs:
        return None
    seeds = tuple(s for s in mine if s in theirs or len(theirs) == 1)
    if not seeds:
        return None
    pairs = [(mine[s], theirs[s] if s in theirs else next(iter(theirs.values()))) for s in seeds]
    if any(a.shape != b.shape for a, b in pairs):
        return None
    per_seed = tuple((paired_gain(a, b), mcnemar(a, b)) for a, b in pairs)
    every = paired_accuracy(np.stack([mine[s] for s in seeds]), np.stack(list(theirs.values())))
    return AgainstBaseline(student, baseline, seeds, per_seed, every)


def rows(resolved: Mapping[str, Any], results: pd.DataFrame, predictions: pd.DataFrame,
         missing_reason: str = "") -> list[Row]:
    """The two metrics for every (student, seed) of ``results`` that has no row of them yet: each seed's paired
    gain and McNemar p-value against the baseline's same seed, or the reason there are none (the teacher: it
    is every baseline's reference). ``missing_reason`` explains a baseline absent from ``predictions``."""
    have = set(zip(results.loc[results["metric"] == GAIN, "model"], results.loc[results["metric"] == GAIN, "seed"],
                   strict=True))
    accuracy = results[(results["metric"] == "accuracy")].drop_duplicates(["model", "seed"])
    out: list[Row] = []
    cache: dict[str, AgainstBaseline | None] = {}
    for record in accuracy.to_dict("records"):
        model, seed = str(record["model"]), int(record["seed"])
        if (model, seed) in have:
            continue
        template = Row(suite=str(record["suite"]), model=model, role=str(record["role"]),
                       method=str(record["method"]), dtype=str(record["dtype"]))
        if record["role"] == "teacher":
            reason = "the teacher is the reference every baseline comes back to"
            out += [template.of(name, None, seed=seed, status=Status.SKIPPED, error=reason) for name in (GAIN, MCNEMAR)]
            continue
        baseline = baseline_of(resolved, model)
        if model not in cache:
            cache[model] = pooled(predictions, model, baseline)
        found = cache[model]
        if found is None or seed not in found.seeds:
            status = Status.SKIPPED if missing_reason else Status.ERROR
            why = missing_reason or f"no predictions of {model} or of its baseline {baseline} in this run"
            out += [template.of(name, None, seed=seed, status=status, error=why) for name in (GAIN, MCNEMAR)]
            continue
        gain, test = found.per_seed[found.seeds.index(seed)]
        out.append(template.of(GAIN, gain.value, seed=seed, ci=(gain.ci_low, gain.ci_high), n=gain.n))
        out.append(template.of(MCNEMAR, test.p, seed=seed, n=test.n))
    return out
