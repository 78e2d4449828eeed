"""A suite on your own text table: a tiny BERT folder fine-tuned as the teacher, a 1-layer copy of it distilled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store import load_results
from tests.conftest import ROOT

pytest.importorskip("transformers", reason="needs the text extra: pip install 'harness[text]'")

DATASET = """\
name: text-table
dataset: {name: text_table, path: data/texts.csv, text: sentence, target: topic, tokenizer: bert, seq_len: 12,
          test_fraction: 0.25, seed: 0}
measure:
  batch_sizes: [1]
  latency: {min_iters: 5, max_seconds: 0.05}
seeds: [0]
"""
FINE_TUNED = DATASET + """\
teacher:
  arch: hf
  params: {model: bert}
  train: {epochs: 8, lr: 3.0e-3, batch_size: 16}
students:
  - name: hf-1l-kd
    arch: hf
    params: {model: bert, layers: 1}
    method: {name: kd, epochs: 8, lr: 3.0e-3, batch_size: 16}
"""
AS_IT_IS = DATASET + """\
teacher: {arch: hf, params: {model: bert}, pretrained: true}
students:
  - {name: hf-1l, arch: hf, params: {model: bert, layers: 1}, method: {name: kd, epochs: 1}}
"""
SMALL_VOCAB = AS_IT_IS.replace("{name: hf-1l, arch: hf, params: {model: bert, layers: 1}",
                               "{name: small-vocab, arch: hf, params: {model: small}")


def _run(tmp_path: Path, suite: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``suite`` run where it lies, beside a tiny BERT folder and a table of 200 sentences in 3 classes."""
    from tests.tiny_text import save_bert, sentences

    tmp_path.mkdir(exist_ok=True)
    save_bert(tmp_path / "bert")
    save_bert(tmp_path / "small", vocab_size=20, tokenizer=False)  # a model whose vocabulary is not the tokenizer's
    (tmp_path / "data").mkdir()
    sentences().to_csv(tmp_path / "data" / "texts.csv", index=False)
    (tmp_path / "suite.yaml").write_text(suite)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    elsewhere = tmp_path / "elsewhere"  # the table, model and tokenizer folders are named from the suite's folder
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(tmp_path / "suite.yaml"), "--out",
                             "results", "--no-report"], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=300)
    return result, elsewhere / result.stdout.strip().splitlines()[-1] if result.stdout.strip() else tmp_path


@pytest.mark.slow
def test_a_bert_folder_fine_tuned_on_a_text_table_and_a_one_layer_copy_distilled_from_it(tmp_path: Path):
    result, run = _run(tmp_path, FINE_TUNED)
    assert result.returncode == 0, result.stderr[-3000:]
    df = load_results(run)
    value = df[df["batch_size"].isna()].pivot_table(index="model", columns="metric", values="value")
    print(value[["accuracy", "teacher_agreement", "kl_to_teacher", "params", "train_seconds"]].to_string())
    assert value.loc["teacher", "accuracy"] >= 0.9  # 3 balanced classes: chance is 1/3
    assert value.loc["hf-1l-kd", "accuracy"] >= 0.8 and value.loc["hf-1l-kd", "teacher_agreement"] >= 0.8
    # one of the two transformer layers (and BERT's unused pooler) gone
    assert value.loc["teacher", "params"] == 20_419 and value.loc["hf-1l-kd", "params"] == 11_875
    assert (df.loc[df["metric"] == "latency_p50_ms", "status"] == "ok").all()


@pytest.mark.slow
def test_a_pretrained_teacher_as_it_is_and_a_model_whose_vocabulary_is_not_the_tokenizers(tmp_path: Path):
    result, run = _run(tmp_path / "small", SMALL_VOCAB)
    # refused before anything is trained or written: the tokenizer's 33 ids against the model's 20
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        f"student small-vocab: hf: the dataset's token ids go up to 32, beyond the vocabulary of "
        f"{tmp_path / 'small' / 'small'} (vocab_size 20): the dataset's tokenizer is not the model's"), result.stderr
    assert not (tmp_path / "small" / "elsewhere" / "results").exists()
    result, run = _run(tmp_path / "as-is", AS_IT_IS)
    assert result.returncode == 0, result.stderr[-3000:]
    df = load_results(run)
    teacher = df[(df["model"] == "teacher") & df["batch_size"].isna()].set_index("metric")
    # the folder's weights as they are, with a head of the run's seed: measured, not trained
    assert teacher.loc["train_seconds", "status"] == "skipped" and 0 <= teacher.loc["accuracy", "value"] <= 1
    assert (df.loc[df["model"] == "teacher", "status"] != "failed").all()
