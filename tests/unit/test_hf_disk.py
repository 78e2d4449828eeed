"""``hf_disk``: a ``save_to_disk`` folder read as a ``table`` or a ``text_table``; each bad input one line."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

datasets = pytest.importorskip("datasets", reason="needs the hf extra: pip install -e '.[hf]'")

from harness.data.hf_disk import hf_disk  # noqa: E402
from harness.data.table import table  # noqa: E402
from harness.errors import HarnessError, SuiteError  # noqa: E402
from harness.suite import load_suite  # noqa: E402


def _numbers() -> pd.DataFrame:
    """20 rows: two numeric columns, a category and a string label in two classes."""
    return pd.DataFrame({"a": [float(i) for i in range(20)], "b": [float(i % 3) for i in range(20)],
                         "colour": ["red", "blue"] * 10, "kind": ["x", "x", "y", "y"] * 5})


def _save(folder: Path, frame: pd.DataFrame) -> Path:
    datasets.Dataset.from_dict(frame.to_dict("list")).save_to_disk(str(folder))
    return folder


def _split_folder(folder: Path) -> Path:
    train = {"a": [0.0, 1.0, 2.0, 3.0], "kind": ["x", "y", "x", "y"]}
    test = {"a": [10.0, 11.0], "kind": ["x", "y"]}
    datasets.DatasetDict(train=datasets.Dataset.from_dict(train),
                         test=datasets.Dataset.from_dict(test)).save_to_disk(str(folder))
    return folder


def _load(path: Path, **params: object):  # noqa: ANN202
    return hf_disk(**({"seed": 0, "path": path, "target": "kind"} | params))  # type: ignore[arg-type]


def test_a_single_dataset_is_the_table_of_the_same_rows_split_by_seed(tmp_path: Path):
    folder = _save(tmp_path / "numbers", _numbers())
    _numbers().to_csv(tmp_path / "numbers.csv", index=False)
    ds = _load(folder, categorical=("colour",), test_fraction=0.25)
    same = table(seed=0, path=tmp_path / "numbers.csv", target="kind", categorical=("colour",), test_fraction=0.25)
    assert ds.name == "hf_disk" and ds.input_shape == (4,) and ds.num_classes == 2
    assert (len(ds.y_train), len(ds.y_test)) == (15, 5)
    assert ds.info["classes"] == ["x", "y"] and ds.info["rows"] == 20 and ds.info["path"] == str(folder)
    assert ds.info["features"] == ["a", "b", "colour=blue", "colour=red"]
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(ds, name), getattr(same, name)), name
    assert {k: v for k, v in ds.info.items() if k != "path"} == {k: v for k, v in same.info.items() if k != "path"}
    assert ds.x_train[:, :2].mean(0).abs().max() < 1e-6 and torch.allclose(ds.x_train[:, :2].std(0, unbiased=False),
                                                                             torch.ones(2))
    other = _load(folder, categorical=("colour",), test_fraction=0.25, seed=1)
    assert not torch.equal(other.x_test, ds.x_test)


def test_a_dataset_dict_with_train_and_test_keeps_its_split(tmp_path: Path):
    ds = _load(_split_folder(tmp_path / "split"))
    assert (len(ds.y_train), len(ds.y_test)) == (4, 2) and ds.info["rows"] == 6
    assert ds.y_train.tolist() == [0, 1, 0, 1] and ds.y_test.tolist() == [0, 1]
    assert ds.info["standardized"] == {"mean": {"a": 1.5}, "std": {"a": math.sqrt(1.25)}}
    assert ds.x_test[:, 0].tolist() == pytest.approx([8.5 / math.sqrt(1.25), 9.5 / math.sqrt(1.25)])
    assert ds.x_train[:, 0].tolist() == pytest.approx([-1.5 / math.sqrt(1.25), -0.5 / math.sqrt(1.25),
                                                       0.5 / math.sqrt(1.25), 1.5 / math.sqrt(1.25)])


def test_a_class_label_target_keeps_its_ids_and_records_its_names(tmp_path: Path):
    """A ClassLabel column is read as its integer ids; the report's classes are its names, by id."""
    features = datasets.Features({"a": datasets.Value("float64"),
                                  "kind": datasets.ClassLabel(names=["neg", "neu", "pos"])})
    rows = {"a": [float(i) for i in range(12)], "kind": [2, 0, 1, 2] * 3}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "labels"))
    ds = _load(tmp_path / "labels", test_fraction=0.25)
    assert ds.num_classes == 3 and ds.info["classes"] == ["neg", "neu", "pos"] and ds.info["class_ids"] == [0, 1, 2]
    assert sorted(ds.y_train.tolist() + ds.y_test.tolist()) == sorted(rows["kind"])


def test_a_split_folder_needs_every_class_on_both_sides(tmp_path: Path):
    train = {"a": [0.0, 1.0, 2.0, 3.0], "kind": ["x", "y", "x", "z"]}
    test = {"a": [10.0, 11.0], "kind": ["x", "y"]}
    datasets.DatasetDict(train=datasets.Dataset.from_dict(train),
                         test=datasets.Dataset.from_dict(test)).save_to_disk(str(tmp_path / "lopsided"))
    with pytest.raises(HarnessError) as info:
        _load(tmp_path / "lopsided")
    assert str(info.value) == (f"{tmp_path / 'lopsided'}: the data came split: class 'z' (1 row) has none in the "
                               f"test split; every class needs a row in train and in test")


def test_dropna_drops_rows_of_either_split(tmp_path: Path):
    train = {"a": [0.0, None, 2.0, 3.0, 4.0], "kind": ["x", "y", "x", "y", "y"]}
    test = {"a": [10.0, None, 11.0], "kind": ["x", "x", "y"]}
    datasets.DatasetDict(train=datasets.Dataset.from_dict(train),
                         test=datasets.Dataset.from_dict(test)).save_to_disk(str(tmp_path / "gaps"))
    with pytest.raises(HarnessError,
                       match=r"gaps: 2 rows have missing values, in column 'a' \(2 missing\) \(set dropna: true"):
        _load(tmp_path / "gaps")
    ds = _load(tmp_path / "gaps", dropna=True, standardize=False)
    assert ds.x_train[:, 0].tolist() == [0.0, 2.0, 3.0, 4.0] and ds.x_test[:, 0].tolist() == [10.0, 11.0]
    assert ds.y_train.tolist() == [0, 0, 1, 1] and ds.info["rows_dropped"] == 2


def test_a_text_dataset_is_the_text_table_of_the_same_rows(tmp_path: Path):
    pytest.importorskip("transformers", reason="needs the text extra: pip install -e '.[text]'")
    from harness.data.text_table import text_table
    from tests.tiny_text import VOCAB, save_tokenizer, sentences

    tok = str(save_tokenizer(tmp_path / "tok"))
    sentences().to_csv(tmp_path / "texts.csv", index=False)
    folder = _save(tmp_path / "texts", sentences())
    ds = _load(folder, text="sentence", target="topic", tokenizer=tok, seq_len=10)
    same = text_table(seed=0, path=tmp_path / "texts.csv", text="sentence", target="topic", tokenizer=tok, seq_len=10)
    assert ds.x_train.dtype == torch.int64 and ds.x_train.shape == (160, 10) and ds.x_test.shape == (40, 10)
    assert ds.token_range == (5, len(VOCAB)) and ds.info["classes"] == ["food", "sport", "tech"]
    assert torch.bincount(ds.y_test).tolist() == [14, 13, 13]
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(ds, name), getattr(same, name)), name
    with pytest.raises(HarnessError, match=r"texts: text: and tokenizer: go together \(given only text:\)$"):
        _load(folder, text="sentence", target="topic")
    with pytest.raises(HarnessError, match=r"with text: the texts are the input: leave out features: and categorical:"):
        _load(folder, text="sentence", target="topic", tokenizer=tok, features=("id",))


def test_without_the_datasets_package_it_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = _save(tmp_path / "numbers", _numbers())
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(HarnessError) as info:
        _load(folder)
    assert str(info.value) == "hf_disk needs the hf extra: pip install -e '.[hf]'"


def test_a_folder_that_save_to_disk_did_not_write_is_one_line(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(HarnessError) as info:
        _load(tmp_path / "plain")
    assert str(info.value) == f"{tmp_path / 'plain'} is not a folder that datasets' save_to_disk wrote"


def test_a_dataset_dict_without_train_and_test_is_one_line(tmp_path: Path):
    parts = {name: datasets.Dataset.from_dict({"a": [1.0, 2.0], "kind": ["x", "y"]}) for name in ("train", "valid")}
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(HarnessError) as info:
        _load(tmp_path / "dd")
    assert str(info.value) == (f"{tmp_path / 'dd'}: a DatasetDict needs train and test splits (it has 'train', "
                               f"'valid'), or a single split to divide by test_fraction")


def test_an_unknown_column_is_one_line_with_did_you_mean(tmp_path: Path):
    folder = _save(tmp_path / "numbers", _numbers())
    with pytest.raises(HarnessError) as info:
        _load(folder, target="knid")
    assert str(info.value) == (f"{folder}: no column 'knid' in numbers (columns: a, b, colour, kind; "
                               f"did you mean kind?)")
    with pytest.raises(HarnessError, match="feature column 'colour' is not numbers"):
        _load(folder)


def _suite(folder: Path, dataset: str) -> Path:
    suite = folder / "suite.yaml"
    suite.write_text(f"name: t\ndataset: {dataset}\n"
                     f"teacher: {{arch: mlp, params: {{hidden: [4]}}, train: {{epochs: 1}}}}\n"
                     f"students: [{{name: s, init: teacher, method: {{name: as_is}}}}]\n")
    return suite


def test_validate_resolves_the_folder_and_checks_it_and_its_columns(tmp_path: Path):
    _save(tmp_path / "numbers", _numbers())
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.csv").write_text("a\n1\n")
    suite = load_suite(_suite(tmp_path, "{name: hf_disk, path: numbers, target: kind, categorical: [colour]}"))
    assert suite.dataset.params["path"] == str(tmp_path / "numbers")
    refused = {
        "{name: hf_disk, path: nope, target: kind}": f"dataset.path: data folder not found: {tmp_path / 'nope'}",
        "{name: hf_disk, path: file.csv, target: kind}": f"dataset.path: is a file, not a data folder: "
                                                         f"{tmp_path / 'file.csv'}",
        "{name: hf_disk, path: plain, target: kind}": f"{tmp_path / 'plain'} is not a folder that datasets' "
                                                      f"save_to_disk wrote (no dataset_dict.json, nor "
                                                      f"dataset_info.json and state.json)",
        "{name: hf_disk, path: numbers, target: kind, features: [a, colur]}": "dataset.features: no column 'colur' "
                                                                             "in numbers (columns: a, b, colour, "
                                                                             "kind; did you mean colour?)",
    }
    for dataset, message in refused.items():
        with pytest.raises(SuiteError) as info:
            load_suite(_suite(tmp_path, dataset))
        assert str(info.value).endswith(message), (dataset, str(info.value))

