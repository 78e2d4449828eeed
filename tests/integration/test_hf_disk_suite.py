"""A tiny suite end to end on a ``save_to_disk`` folder (``hf_disk``): wine.csv as a Hugging Face dataset, an MLP
teacher and a distilled student; the run reads the folder as ``table`` would read the csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.cache import ModelCache, content_digest
from harness.preflight import load_dataset
from harness.runner import run_suite
from harness.store import load_results, read_manifest
from harness.suite import load_suite
from tests.conftest import ROOT

datasets = pytest.importorskip("datasets", reason="needs the hf extra: pip install 'harness[hf]'")

SUITE = """\
name: hf-disk
version: 1
dataset: {name: hf_disk, path: wine, target: cultivar, test_fraction: 0.25, seed: 0}
teacher: {arch: mlp, params: {hidden: [32]}, train: {epochs: 30, lr: 3.0e-3, batch_size: 16}}
students:
  - name: kd-4
    arch: mlp
    params: {hidden: [4]}
    method: {name: kd, temperature: 4.0, alpha: 0.9, epochs: 30, lr: 3.0e-3, batch_size: 16}
measure:
  devices: [cpu]
  threads: 1
  batch_sizes: [1]
  latency: {warmup_iters: 2, min_iters: 5, max_seconds: 0.05}
seeds: [0]
"""


def test_a_suite_runs_on_a_save_to_disk_folder_as_on_the_same_table(tmp_path: Path):
    wine = pd.read_csv(ROOT / "examples" / "data" / "wine.csv")
    datasets.Dataset.from_pandas(wine).save_to_disk(str(tmp_path / "wine"))  # path: wine, from the suite's folder
    (tmp_path / "suite.yaml").write_text(SUITE)
    suite = load_suite(tmp_path / "suite.yaml")
    run = run_suite(suite, tmp_path / "results", ModelCache(tmp_path / "cache"), log=lambda _: None)
    rows = load_results(run.run_dir)
    accuracy = rows[rows["metric"] == "accuracy"].set_index("model")["value"]
    assert sorted(accuracy.index) == ["kd-4", "teacher"]
    assert accuracy["teacher"] >= 0.9 and accuracy["kd-4"] >= 0.8, accuracy.to_dict()

    data = load_dataset(suite)
    assert (len(data.y_train), len(data.y_test), data.input_shape) == (133, 45, (13,))
    assert data.name == "hf_disk" and data.info["classes"] == ["class_0", "class_1", "class_2"]
    digest = content_digest(tmp_path / "wine")  # the folder's: each file's sha256 by its relative path
    assert read_manifest(run.run_dir).dataset_info == {**data.info, "sha256": {"path": digest}}
    from harness.data.table import table

    same = table(seed=0, path=ROOT / "examples" / "data" / "wine.csv", target="cultivar", test_fraction=0.25)
    assert torch.equal(data.x_test, same.x_test) and torch.equal(data.y_train, same.y_train)
