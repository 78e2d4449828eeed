"""Predictions written and read back, each student's baseline, and the paired rows against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.against_baseline import GAIN, MCNEMAR, baseline_of, holm_adjusted, pooled, rows
from harness.measure.paired_quality import mcnemar, paired_gain
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


def test_each_seed_is_paired_with_the_baseline_s_same_seed_and_the_teacher_with_its_one_seed():
    results, predictions = _run()
    made = frame(rows(RESOLVED, results, predictions))
    kd = made[made["model"] == "kd"].set_index(["seed", "metric"])
    for seed in (0, 1):
        student = predictions[(predictions["model"] == "kd") & (predictions["seed"] == seed)]["correct"].to_numpy()
        base = predictions[(predictions["model"] == "scratch") & (predictions["seed"] == seed)]["correct"].to_numpy()
        gain, test = paired_gain(student, base), mcnemar(student, base)
        assert kd.loc[(seed, GAIN), "value"] == pytest.approx(gain.value)
        assert (kd.loc[(seed, GAIN), "ci_low"], kd.loc[(seed, GAIN), "ci_high"]) == (gain.ci_low, gain.ci_high)
        assert kd.loc[(seed, MCNEMAR), "value"] == test.p and kd.loc[(seed, MCNEMAR), "n"] == test.n
    scratch = made[(made["model"] == "scratch") & (made["metric"] == GAIN)]
    teacher = predictions[predictions["model"] == "t"]["correct"].to_numpy()
    mine = predictions[(predictions["model"] == "scratch") & (predictions["seed"] == 1)]["correct"].to_numpy()
    assert scratch.set_index("seed").loc[1, "value"] == pytest.approx(mine.mean() - teacher.mean())
    assert set(made.loc[made["model"] == "t", "status"]) == {"skipped"}


def test_the_seeds_pool_into_one_gain_and_one_test_and_holm_adjusts_across_students():
    _, predictions = _run(seeds=3)
    found = pooled(predictions, "kd", "scratch")
    assert found is not None and found.seeds == (0, 1, 2)
    assert found.gain.value == pytest.approx(np.mean([g.value for g, _ in found.per_seed]))
    assert (found.test.b, found.test.c) == (sum(t.b for _, t in found.per_seed), sum(t.c for _, t in found.per_seed))
    other = pooled(predictions, "scratch", "t")
    assert other is not None
    adjusted = holm_adjusted([found, other])
    smaller, larger = sorted([found.test.p, other.test.p])
    assert sorted(adjusted.values()) == pytest.approx([min(1, 2 * smaller), max(min(1, 2 * smaller), larger)])


def test_a_missing_baseline_is_an_error_row_with_the_reason_and_rows_are_made_once():
    results, predictions = _run(seeds=1)
    made = frame(rows(RESOLVED, results, predictions[predictions["model"] != "scratch"]))
    kd = made[made["model"] == "kd"]
    assert set(kd["status"]) == {"error"}
    assert kd["error"].iloc[0] == "no predictions of kd or of its baseline scratch in this run"
    assert rows(RESOLVED, pd.concat([results, made], ignore_index=True), predictions) == []
