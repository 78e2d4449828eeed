"""``text_table``: texts of a table tokenized to ids padded with 0, its target as classes; each bad input one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("transformers", reason="needs the text extra: pip install 'harness[text]'")

from harness.data.text_table import load_tokenizer, text_table  # noqa: E402
from harness.errors import HarnessError, SuiteError  # noqa: E402
from harness.suite import load_suite  # noqa: E402
from tests.tiny_text import VOCAB, save_bert, save_tokenizer, sentences  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text")
    save_tokenizer(root / "tok")
    save_bert(root / "bert", tokenizer=False)  # a model folder for the suites' teacher (validate checks its config)
    sentences().to_csv(root / "texts.csv", index=False)
    sentences().to_parquet(root / "texts.parquet")
    return root


def _load(folder: Path, file: str = "texts.csv", **params: object) -> object:
    given = {"seed": 0, "path": folder / file, "text": "sentence", "target": "topic",
             "tokenizer": str(folder / "tok"), "seq_len": 10} | params
    return text_table(**given)  # type: ignore[arg-type]


def test_texts_become_ids_with_the_tokenizers_special_tokens_padded_with_0(folder: Path):
    ds = _load(folder)
    assert ds.x_train.dtype == torch.int64 and ds.x_train.shape == (160, 10) and ds.x_test.shape == (40, 10)
    assert ds.num_classes == 3 and ds.task == "classification" and ds.token_range == (5, len(VOCAB))
    assert ds.info["classes"] == ["food", "sport", "tech"] and ds.info["rows"] == 200
    assert ds.info["vocab_size"] == len(VOCAB) and ds.info["texts_truncated"] == 0
    frame = sentences()
    text = frame["sentence"][0]  # "food" is class 0 of sorted (food, sport, tech); row 0 is in one split
    ids = [VOCAB.index("[CLS]"), *(VOCAB.index(w) for w in text.split()), VOCAB.index("[SEP]")]
    expected = torch.tensor(ids + [0] * (10 - len(ids)))
    rows = torch.cat([ds.x_train, ds.x_test])
    labels = torch.cat([ds.y_train, ds.y_test])
    found = (rows == expected).all(1)
    assert found.sum() >= 1 and (labels[found] == 0).all()
    assert sorted(torch.bincount(labels).tolist()) == [66, 67, 67]
    # stratified: each class in the test split in proportion
    assert torch.bincount(ds.y_test).tolist() == [14, 13, 13]


def test_long_texts_are_truncated_to_seq_len_ending_with_sep(folder: Path):
    ds = _load(folder, seq_len=4)
    assert ds.x_train.shape[1] == 4 and (ds.x_train[:, 0] == 2).all() and (ds.x_train[:, -1] == 3).all()
    assert ds.info["texts_truncated"] == 200


def test_parquet_reads_the_same_and_the_split_follows_the_seed(folder: Path):
    csv, parquet, other = _load(folder), _load(folder, "texts.parquet"), _load(folder, seed=1)
    assert torch.equal(csv.x_train, parquet.x_train) and torch.equal(csv.y_test, parquet.y_test)
    assert not torch.equal(csv.x_test, other.x_test)


def _suite(folder: Path, dataset: str) -> Path:
    suite = folder / "suite.yaml"
    suite.write_text(f"name: t\ndataset: {dataset}\nteacher: {{arch: hf, params: {{model: {folder}/bert}}, "
                     f"pretrained: true}}\nstudents: [{{name: s, init: teacher, method: {{name: as_is}}}}]\n")
    return suite


def test_a_missing_file_and_an_unknown_column_are_refused_by_validate(folder: Path):
    with pytest.raises(SuiteError) as info:
        load_suite(_suite(folder, "{name: text_table, path: nope.csv, text: sentence, target: topic, "
                                  "tokenizer: tok}"))
    assert str(info.value).endswith(f"dataset.path: data file not found: {folder / 'nope.csv'}")
    with pytest.raises(SuiteError) as info:
        load_suite(_suite(folder, "{name: text_table, path: texts.csv, text: sentense, target: topic, "
                                  "tokenizer: tok}"))
    assert str(info.value).endswith("dataset.text: no column 'sentense' in texts.csv (columns: sentence, topic, id; "
                                    "did you mean sentence?)")


def test_a_target_with_one_class_is_one_line(folder: Path, tmp_path: Path):
    sentences().assign(topic="food").to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(HarnessError) as info:
        _load(folder, str(tmp_path / "one.csv"))
    assert str(info.value) == (f"{tmp_path / 'one.csv'}: target 'topic' has 1 class ('food'): "
                               f"a classifier needs at least two")


def test_too_few_rows_for_the_split_is_one_line(folder: Path, tmp_path: Path):
    sentences(rows=5).to_csv(tmp_path / "few.csv", index=False)
    with pytest.raises(HarnessError) as info:
        _load(folder, str(tmp_path / "few.csv"))
    assert str(info.value) == (f"{tmp_path / 'few.csv'}: too few rows to split with test_fraction=0.2: 5 rows, "
                               f"class 'tech' has 1; every class needs a row in train and in test")


def test_missing_texts_are_one_line(folder: Path, tmp_path: Path):
    frame = sentences()
    frame.loc[3, "sentence"] = None
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    with pytest.raises(HarnessError, match=r"gaps.csv: column 'sentence' has 1 missing value$"):
        _load(folder, str(tmp_path / "gaps.csv"))


def test_a_tokenizer_folder_without_tokenizer_files_is_one_line_naming_it(folder: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    load_tokenizer.cache_clear()
    with pytest.raises(HarnessError) as info:
        _load(folder, tokenizer=str(tmp_path / "empty"))
    assert str(info.value).startswith(f"text_table: tokenizer folder {tmp_path / 'empty'} has no tokenizer files")


def test_a_hub_id_not_in_the_local_cache_is_one_line(folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError) as info:
        _load(folder, tokenizer="harness-tests/no-such-tokenizer")
    assert str(info.value).startswith("text_table: tokenizer 'harness-tests/no-such-tokenizer' is neither a folder "
                                      "nor in the local Hugging Face cache (HF_HUB_OFFLINE=1;")


def test_a_tokenizer_that_does_not_pad_with_0_is_refused(folder: Path, tmp_path: Path):
    from transformers import BertTokenizerFast

    vocab = ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "bread"]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(str(tmp_path / "pad1"))
    with pytest.raises(HarnessError, match="pads with id 1, but text models here take 0 as padding"):
        _load(folder, tokenizer=str(tmp_path / "pad1"))


def test_a_frame_written_by_pandas_with_an_index_column_still_reads(folder: Path, tmp_path: Path):
    sentences().to_csv(tmp_path / "indexed.csv")
    assert pd.read_csv(tmp_path / "indexed.csv").columns[0] == "Unnamed: 0"
    assert _load(folder, str(tmp_path / "indexed.csv")).num_classes == 3


@pytest.mark.parametrize(("frame", "message"), [
    (sentences().assign(topic="food"), "target 'topic' has 1 class ('food'): a classifier needs at least two"),
    (sentences(rows=5), "too few rows to split with test_fraction=0.2: 5 rows, class 'tech' has 1; every class "
                        "needs a row in train and in test"),
])
def test_harness_validate_reads_the_rows(folder: Path, tmp_path: Path, frame: pd.DataFrame, message: str):
    """harness validate loads the texts as a run would: one class, or too few rows, is one line, exit 2."""
    import contextlib
    import io

    from harness.cli import main

    frame.to_csv(tmp_path / "bad.csv", index=False)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: t\ndataset: {{name: text_table, path: bad.csv, text: sentence, target: topic, "
                     f"tokenizer: {folder}/tok}}\nteacher: {{arch: hf, params: {{model: {folder}/bert}}, "
                     f"pretrained: true}}\nstudents: [{{name: s, init: teacher, method: {{name: as_is}}}}]\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        assert main(["validate", str(suite)]) == 2
    assert out.getvalue().strip() == f"{suite}: {tmp_path / 'bad.csv'}: {message}"
