"""A run keeps every model's per-example predictions, and the quality rows computed from them agree with them
exactly: ECE, accuracy under noise, and each student's gain and McNemar test against its baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cache import ModelCache, default_cache_dir
from harness.measure.paired_quality import ece, mcnemar, paired_gain
from harness.runner import run_suite
from harness.store import load_predictions, load_results
from harness.suite import load_suite
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("quality")
    doc = yaml.safe_load((FIXTURES / "tiny.yaml").read_text())
    doc["students"].insert(0, {"name": "scratch-4", "arch": "mlp", "params": {"hidden": [4]},
                               "method": {"name": "scratch", "epochs": 2}})
    doc["measure"]["noise_sigmas"] = [0.5, 2.0]
    doc["measure"]["batch_sizes"] = [1]
    doc["seeds"] = [0, 1]
    (tmp / "suite.yaml").write_text(yaml.safe_dump(doc))
    return run_suite(load_suite(tmp / "suite.yaml"), tmp / "results", ModelCache(default_cache_dir()),
                     log=lambda _: None).run_dir


def test_predictions_hold_every_model_seed_and_test_example(run: Path):
    predictions, rows = load_predictions(run), load_results(run)
    counts = predictions.groupby(["model", "seed"]).size().to_dict()
    assert counts == {("kd-4", 0): 30, ("kd-4", 1): 30, ("scratch-4", 0): 30, ("scratch-4", 1): 30, ("teacher", 0): 30}
    accuracy = rows[rows["metric"] == "accuracy"].set_index(["model", "seed"])["value"]
    for (model, seed), group in predictions.groupby(["model", "seed"]):
        assert group["correct"].mean() == pytest.approx(accuracy[(model, seed)])
        assert (group["correct"] == (group["predicted"] == group["label"])).all()
    teacher = predictions[predictions["model"] == "teacher"].set_index("example")["predicted"]
    kd = predictions[(predictions["model"] == "kd-4") & (predictions["seed"] == 0)].set_index("example")
    assert (kd["agrees_with_teacher"] == (kd["predicted"] == teacher)).all()


def test_ece_and_the_baseline_rows_are_what_the_predictions_say(run: Path):
    predictions, rows = load_predictions(run), load_results(run)
    kd = predictions[(predictions["model"] == "kd-4") & (predictions["seed"] == 1)].sort_values("example")
    base = predictions[(predictions["model"] == "scratch-4") & (predictions["seed"] == 1)].sort_values("example")
    mine = rows[(rows["model"] == "kd-4") & (rows["seed"] == 1)].set_index("metric")
    expected_ece = ece(kd["confidence"].to_numpy(), kd["correct"].to_numpy(dtype=bool))
    assert (mine.loc["ece", "value"], mine.loc["ece", "ci_low"]) == (expected_ece.value, expected_ece.ci_low)
    a, b = kd["correct"].to_numpy(dtype=bool), base["correct"].to_numpy(dtype=bool)
    assert mine.loc["accuracy_gain_vs_baseline", "value"] == pytest.approx(paired_gain(a, b).value)
    assert mine.loc["mcnemar_p_vs_baseline", "value"] == mcnemar(a, b).p  # kd-4's baseline: scratch-4


def test_accuracy_under_noise_has_a_row_per_level(run: Path):
    rows = load_results(run)
    noise = rows[rows["metric"] == "accuracy_under_noise"]
    assert sorted(set(noise["noise_sigma"])) == [0.5, 2.0] and len(noise) == 2 * 5  # 5 (model, seed) pairs
    assert noise["value"].between(0, 1).all() and rows.loc[rows["metric"] != "accuracy_under_noise",
                                                           "noise_sigma"].isna().all()
    assert (noise["n"] == 30).all() and (noise["ci_low"] <= noise["value"]).all()
