"""Predictions written and read back, each student's baseline, and the paired rows against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.against_baseline import GAIN, MCNEMAR, baseline_of, pooled, rows
from harness.rows import Row
from harness.store import RunWriter, frame, load_predictions
from harness.suite import load_suite
from tests.conftest import ROOT
from tests.helpers import MANIFEST_KEYS


def test_every_student_of_the_methods_suite_has_the_baseline_its_comments_promise():
    resolved = load_suite(ROOT / "suites" / "methods.yaml").resolved()
    found = {s["name"]: baseline_of(resolved, s["name"]) for s in resolved["students"]}
    assert found == {"scratch-cnn8": "teacher", "kd-cnn8": "scratch-cnn8", "fitnets-cnn8": "scratch-cnn8",
                     "at-cnn8": "scratch-cnn8", "adv-cnn8": "scratch-cnn8", "multi-cnn8": "scratch-cnn8",
                     "pruned-teacher": "teacher", "channel-pruned-teacher": "teacher", "int8-teacher": "teacher",
                     "bf16-teacher": "teacher", "kd-prune-int8": "scratch-cnn8"}


def _predictions(model: str, seed: int, correct: np.ndarray, dtype: str = "float32") -> pd.DataFrame:
    n = len(correct)
    return pd.DataFrame({"model": model, "seed": seed, "dtype": dtype, "example": np.arange(n),
                         "label": np.zeros(n, dtype=int), "predicted": np.where(correct, 0, 1), "correct": correct,
                         "agrees_with_teacher": pd.array([None] * n, "boolean"), "confidence": np.full(n, 0.7)})


def test_predictions_are_written_and_read_back_exactly(tmp_path: Path):
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    table = _predictions("kd", 0, np.array([True, False, True]))
    writer.append([], [], table)
    writer.append([], [], _predictions("kd", 1, np.array([False, False, True])))
    back = load_predictions(writer.run_dir)
    assert len(back) == 6 and back["correct"].tolist() == [True, False, True, False, False, True]
    assert str(back["correct"].dtype) == "boolean" and back["agrees_with_teacher"].isna().all()
    assert back["run_id"].unique().tolist() == [writer.run_id] and back["example"].tolist() == [0, 1, 2] * 2


RESOLVED = {"teacher": {"name": "t"}, "students": [
    {"name": "scratch", "arch": "mlp", "params": {}, "init": "random", "method": [{"name": "scratch"}]},
    {"name": "kd", "arch": "mlp", "params": {}, "init": "random", "method": [{"name": "kd"}]}]}


def _run(seeds: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    parts = [_predictions("t", 0, rng.random(200) < 0.9)]
    for seed in range(seeds):
        base = rng.random(200) < 0.7
        parts += [_predictions("scratch", seed, base), _predictions("kd", seed, base | (rng.random(200) < 0.2))]
    accuracy = [Row(suite="s", model=m, role="teacher" if m == "t" else "student", method=m, seed=s,
                    metric="accuracy", value=0.5) for m, s in [("t", 0)] + [(m, s) for s in range(seeds)
                                                                             for m in ("scratch", "kd")]]
    return frame(accuracy), pd.concat(parts, ignore_index=True)


def _hand_mcnemar(student: np.ndarray, base: np.ndarray) -> tuple[int, int, float]:
    """b, c and scipy's exact two-sided binomial p on the discordant pairs of one seed each."""
    b, c = int((student & ~base).sum()), int((~student & base).sum())
    return b, c, (1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue)


def test_each_seed_is_paired_with_the_baseline_s_same_seed_and_the_teacher_with_its_one_seed():
    results, predictions = _run()
    made = frame(rows(RESOLVED, results, predictions))
    kd = made[made["model"] == "kd"].set_index(["seed", "metric"])
    for seed in (0, 1):
        student = predictions[(predictions["model"] == "kd") & (predictions["seed"] == seed)]["correct"].to_numpy()
        base = predictions[(predictions["model"] == "scratch") & (predictions["seed"] == seed)]["correct"].to_numpy()
        b, c, p = _hand_mcnemar(student, base)
        assert kd.loc[(seed, GAIN), "value"] == pytest.approx(student.mean() - base.mean())
        assert kd.loc[(seed, GAIN), "ci_low"] < kd.loc[(seed, GAIN), "value"] < kd.loc[(seed, GAIN), "ci_high"]
        assert kd.loc[(seed, MCNEMAR), "value"] == pytest.approx(p, rel=1e-12) and kd.loc[(seed, MCNEMAR), "n"] == b + c
    scratch = made[(made["model"] == "scratch") & (made["metric"] == GAIN)]
    teacher = predictions[predictions["model"] == "t"]["correct"].to_numpy()
    mine = predictions[(predictions["model"] == "scratch") & (predictions["seed"] == 1)]["correct"].to_numpy()
    assert scratch.set_index("seed").loc[1, "value"] == pytest.approx(mine.mean() - teacher.mean())
    assert set(made.loc[made["model"] == "t", "status"]) == {"skipped"}


def test_the_call_counts_each_test_example_once_and_holm_adjusts_across_students():
    """The call over 3 seeds: each side's correctness averaged per example over its seeds (computed here), the gain
    their mean difference; Holm across the two students as statsmodels computes it."""
    _, predictions = _run(seeds=3)
    found = pooled(predictions, "kd", "scratch")
    assert found is not None and found.seeds == (0, 1, 2)

    def mean_correct(model: str) -> np.ndarray:
        mine = predictions[predictions["model"] == model]
        seeds = sorted(set(mine["seed"]))
        return np.mean([mine.loc[mine["seed"] == s, "correct"].to_numpy(dtype=float) for s in seeds], axis=0)

    d = mean_correct("kd") - mean_correct("scratch")
    assert found.gain.value == pytest.approx(d.mean()) and found.gain.n == 200
    assert (found.test.b, found.test.c) == pytest.approx((d[d > 0].sum(), -d[d < 0].sum()))


def test_a_deterministic_student_in_five_seeds_is_one_seed_s_exact_mcnemar_against_the_teacher():
    """The audit's case: an int8 copy of the teacher is identical in every seed (b=10, c=3 on 200 examples). Pooling
    5 seeds gave p = 1.6e-05; the examples say p = 0.092 (scipy's exact binomial test), in every seed count."""
    teacher = np.zeros(200, dtype=bool)
    teacher[:150] = True
    copy = teacher.copy()
    copy[:3], copy[150:160] = False, True  # 3 the teacher gets right and the copy not, 10 the reverse
    parts = [_predictions("t", 0, teacher)] + [_predictions("int8", s, copy) for s in range(5)]
    resolved = {"teacher": {"name": "t"}, "students": [{"name": "int8", "init": "teacher",
                                                       "method": [{"name": "quantize"}]}]}
    assert baseline_of(resolved, "int8") == "t"
    found = pooled(pd.concat(parts, ignore_index=True), "int8", "t")
    assert found is not None and found.seeds == (0, 1, 2, 3, 4)
    assert found.test.p == pytest.approx(stats.binomtest(3, 13, 0.5).pvalue, rel=1e-9)
    assert found.test.p == pytest.approx(0.09228515625, rel=1e-9)


def test_a_missing_baseline_is_an_error_row_with_the_reason_and_rows_are_made_once():
    results, predictions = _run(seeds=1)
    made = frame(rows(RESOLVED, results, predictions[predictions["model"] != "scratch"]))
    kd = made[made["model"] == "kd"]
    assert set(kd["status"]) == {"error"}
    assert kd["error"].iloc[0] == "no predictions of kd or of its baseline scratch in this run"
    assert rows(RESOLVED, pd.concat([results, made], ignore_index=True), predictions) == []
