"""The ``table`` dataset: exact statistics, class mapping, one-hot and dropna on tiny tables; every bad input
one line naming the file or the column, the columns checked at ``harness validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.data.table import table
from harness.errors import HarnessError, SuiteError
from harness.suite import load_suite
from tests.conftest import ROOT

# ten rows, five per class, every row of a class alike in a and b: any stratified split with one test row
# per class leaves four of each in train, so a's training mean is 2 and std 1, b's 2 and 2
ROWS = [{"a": 1.0 if label == "x" else 3.0, "b": 0 if label == "x" else 4, "shape": "round" if label == "x" else "sq",
         "tag": f"t{i}", "label": label} for i, label in enumerate("xyxyxyxyxy")]


def _write(tmp_path: Path, rows: list[dict], name: str = "t.csv") -> Path:
    file = tmp_path / name
    frame = pd.DataFrame(rows)
    {".csv": lambda: frame.to_csv(file, index=False), ".parquet": lambda: frame.to_parquet(file),
     ".feather": lambda: frame.to_feather(file)}[file.suffix]()
    return file


def _load(file: Path, **params):
    return table(seed=0, path=file, **{"target": "label", "test_fraction": 0.2, **params})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".feather"])
def test_numeric_features_standardised_by_the_training_split(tmp_path: Path, suffix: str):
    ds = _load(_write(tmp_path, ROWS, f"t{suffix}"), features=("a", "b"))
    assert ds.info["standardized"] == {"mean": {"a": 2.0, "b": 2.0}, "std": {"a": 1.0, "b": 2.0}}
    assert ds.info["classes"] == ["x", "y"] and ds.num_classes == 2
    assert ds.info["features"] == ["a", "b"] and ds.info["rows"] == 10 and ds.info["rows_dropped"] == 0
    assert (len(ds.y_train), len(ds.y_test)) == (8, 2) and sorted(ds.y_test.tolist()) == [0, 1]
    # class x (id 0) had a=1, b=0: standardised -1, -1; class y +1, +1
    expected = np.where(ds.y_train.numpy()[:, None] == 0, -1.0, 1.0)
    assert np.array_equal(ds.x_train.numpy(), np.hstack([expected, expected]))
    assert ds.x_train.dtype == ds.x_test.dtype and str(ds.x_train.dtype) == "torch.float32"


def test_standardize_false_keeps_the_raw_values(tmp_path: Path):
    ds = _load(_write(tmp_path, ROWS), features=("a", "b"), standardize=False)
    assert ds.info["standardized"] is None
    assert sorted(map(tuple, ds.x_test.tolist())) == [(1.0, 0.0), (3.0, 4.0)]


def test_categorical_columns_are_one_hot_with_the_training_split_s_categories(tmp_path: Path):
    ds = _load(_write(tmp_path, ROWS), categorical=("shape", "tag"), standardize=False)
    tags = ds.info["categories"]["tag"]
    assert ds.info["categories"]["shape"] == ["round", "sq"]
    assert len(tags) == 8 and set(tags) < {f"t{i}" for i in range(10)}
    assert ds.info["features"] == ["a", "b", "shape=round", "shape=sq", *(f"tag={t}" for t in tags)]
    assert ds.input_shape == (12,)
    x_train, x_test = ds.x_train.numpy(), ds.x_test.numpy()
    assert np.array_equal(x_train[:, 2:4], np.eye(2)[ds.y_train.numpy()])  # round is class x (id 0)
    assert np.array_equal(x_train[:, 4:].sum(1), np.ones(8)) and np.array_equal(x_train[:, 4:].sum(0), np.ones(8))
    assert np.array_equal(x_test[:, 4:], np.zeros((2, 8)))  # tags seen only in test: all zeros


@pytest.mark.parametrize(("labels", "classes", "ids"), [
    ([0, 1, 2] * 4, [0, 1, 2], [0, 1, 2] * 4),  # integers 0..K-1: as they are
    ([7, 3, 5] * 4, [3, 5, 7], [2, 0, 1] * 4),  # other integers: sorted, then 0..K-1
    ([0.5, 1.5, 0.5, 1.5] * 3, [0.5, 1.5], [0, 1, 0, 1] * 3),
    (["b", "a", "c"] * 4, ["a", "b", "c"], [1, 0, 2] * 4),
])
def test_the_target_is_mapped_to_class_ids_in_sorted_order(tmp_path: Path, labels, classes, ids):
    rows = [{"f": float(i), "label": label} for i, label in enumerate(labels)]
    ds = _load(_write(tmp_path, rows), test_fraction=0.5, standardize=False)
    assert ds.info["classes"] == classes and ds.num_classes == len(classes)
    splits = ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test))
    got = {int(f): int(y) for x, ys in splits for f, y in zip(x[:, 0], ys, strict=True)}
    assert [got[i] for i in range(len(labels))] == ids


def test_dropna_drops_the_rows_with_a_missing_value_and_counts_them(tmp_path: Path):
    rows = [*ROWS, {"a": None, "b": 1, "shape": "round", "tag": "t10", "label": "x"},
            {"a": 1.0, "b": 0, "shape": None, "tag": "t11", "label": "x"}]
    file = _write(tmp_path, rows)
    with pytest.raises(HarnessError,
                       match=r"t\.csv: 1 row has missing values, in column 'a' \(1 missing\) \(set dropna: true"):
        _load(file, features=("a", "b"))
    ds = _load(file, features=("a", "b"), dropna=True)
    assert ds.info["rows_dropped"] == 1 and ds.info["rows"] == 11  # shape is no feature: its gap does not count
    assert _load(file, categorical=("shape", "tag"), dropna=True).info["rows_dropped"] == 2


def _one_line(match: str, **params):
    with pytest.raises(HarnessError, match=match) as caught:
        _load(**params)
    assert len(str(caught.value).splitlines()) == 1
    return str(caught.value)


def test_bad_input_is_one_line_naming_the_file_and_the_column(tmp_path: Path):
    file = _write(tmp_path, ROWS)
    _one_line(r"t\.csv: feature column 'shape' is not numbers .* declare it in categorical:", file=file)
    _one_line(r"t\.csv: no column 'lable' in t\.csv .*did you mean label\?", file=file, target="lable")
    _one_line(r"no column 'bb' in t\.csv .*did you mean b\?", file=file, features=("a", "bb"))
    _one_line(r"no column 'shap' in t\.csv .*did you mean shape\?", file=file, categorical=("shap", "tag"))
    _one_line(r"t\.csv: categorical column 'shape' is not one of the features", file=file, features=("a",),
              categorical=("shape",))
    _one_line(r"column 'label' is the target", file=file, features=("a", "label"))
    one_class = _write(tmp_path, [{**row, "label": "x"} for row in ROWS], "one.csv")
    _one_line(r"one\.csv: target 'label' has 1 class \('x'\): a classifier needs at least two", file=one_class,
              features=("a",))
    few = _write(tmp_path, [*ROWS[:4], {**ROWS[0], "label": "z"}, {**ROWS[0], "label": "z"}], "few.csv")
    _one_line(r"few\.csv: too few rows to split with test_fraction=0\.2: 6 rows, class 'x' has 2; every class "
              r"needs a row in train and in test", file=few, features=("a",))
    # 4 test rows for 3 classes, but 25, 25 and 2 rows: the stratified split gives z none
    rare = _write(tmp_path, [*ROWS * 5, {**ROWS[0], "label": "z"}, {**ROWS[0], "label": "z"}], "rare.csv")
    _one_line(r"rare\.csv: too few rows to split with test_fraction=0\.06: class 'z' \(2 rows\) has none in the "
              r"test split", file=rare, features=("a",), test_fraction=0.06)
    _one_line(r"missing\.csv: cannot read as \.csv", file=tmp_path / "missing.csv")
    (tmp_path / "t.xlsx").write_text("a,label\n")
    _one_line(r"t\.xlsx: unsupported extension '\.xlsx' \(t\.xlsx\): a table dataset reads \.csv, \.parquet or "
              r"\.feather", file=tmp_path / "t.xlsx")
    (tmp_path / "bad.parquet").write_text("not parquet")
    _one_line(r"bad\.parquet: cannot read as \.parquet", file=tmp_path / "bad.parquet")


def _suite(tmp_path: Path, dataset: str) -> Path:
    text = (ROOT / "examples" / "data" / "table.yaml").read_text()
    line = next(line for line in text.splitlines() if line.startswith("dataset:"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(text.replace(line, f"dataset: {dataset}"))
    return suite


@pytest.mark.parametrize(("dataset", "message"), [
    ("{name: table, path: t.csv, target: lable, seed: 0}",
     r"dataset\.target: no column 'lable' in t\.csv \(columns: a, b, shape, tag, label; did you mean label\?\)"),
    ("{name: table, path: t.csv, target: label, features: [a, c], seed: 0}", r"dataset\.features: no column 'c'"),
    ("{name: table, path: t.csv, target: label, categorical: [shapes], seed: 0}",
     r"dataset\.categorical: no column 'shapes' in t\.csv .*did you mean shape\?"),
    ("{name: table, path: gone.csv, target: label, seed: 0}", r"dataset\.path: data file not found: .*gone\.csv"),
    ("{name: table, path: t.tsv, target: label, seed: 0}",
     r"dataset\.path: unsupported extension '\.tsv' \(t\.tsv\): a table dataset reads \.csv"),
])
def test_harness_validate_checks_the_file_and_its_columns(tmp_path: Path, dataset: str, message: str):
    _write(tmp_path, ROWS)
    (tmp_path / "t.tsv").write_text("a\tlabel\n")
    with pytest.raises(SuiteError, match=message) as caught:
        load_suite(_suite(tmp_path, dataset))
    assert len(str(caught.value).splitlines()) == 1 and str(caught.value).startswith(str(tmp_path / "suite.yaml"))


def test_harness_validate_refuses_a_target_with_one_class(tmp_path: Path):
    """The target's column is read at validate time: one class is one line naming the field."""
    _write(tmp_path, [{**row, "label": "x"} for row in ROWS])
    with pytest.raises(SuiteError) as caught:
        load_suite(_suite(tmp_path, "{name: table, path: t.csv, target: label, seed: 0}"))
    assert str(caught.value).endswith("dataset.target: target 'label' has 1 class ('x'): a classifier needs at "
                                      "least two")


@pytest.mark.parametrize(("rows", "dataset", "message"), [
    ([*ROWS[:4], {**ROWS[0], "label": "z"}], "{name: table, path: t.csv, target: label, features: [a], seed: 0}",
     "t.csv: too few rows to split with test_fraction=0.2: 5 rows, class 'z' has 1; every class needs a row in "
     "train and in test"),
    ([{**row, "a": None} if i == 2 else row for i, row in enumerate(ROWS)],
     "{name: table, path: t.csv, target: label, features: [a], seed: 0}",
     "t.csv: 1 row has missing values, in column 'a' (1 missing) (set dropna: true to drop those rows)"),
    (ROWS, "{name: table, path: t.csv, target: label, seed: 0}",
     "t.csv: feature column 'shape' is not numbers (str, e.g. 'round'): declare it in categorical: to one-hot "
     "encode it, or leave it out of features:"),
])
def test_harness_validate_reads_the_rows(tmp_path: Path, rows: list[dict[str, object]], dataset: str, message: str):
    """harness validate loads the data as a run would: a problem with the rows is one line, exit 2, and the
    suite's file names it; good rows are valid, and validate says how they were split."""
    import contextlib
    import io

    from harness.cli import main

    _write(tmp_path, rows)
    suite = _suite(tmp_path, dataset)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        assert main(["validate", str(suite)]) == 2
    assert out.getvalue().strip() == f"{suite}: {tmp_path / message}"
    _write(tmp_path, ROWS)
    suite = _suite(tmp_path, "{name: table, path: t.csv, target: label, features: [a, b], seed: 0}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["validate", str(suite)]) == 0
    assert out.getvalue().splitlines()[-1] == "  data: 8 train / 2 test, input (2,), 2 classes, 10 rows in t.csv"


def test_the_suite_resolves_the_path_from_its_folder(tmp_path: Path):
    _write(tmp_path, ROWS)
    suite = load_suite(_suite(tmp_path, "{name: table, path: t.csv, target: label, seed: 0}"))
    assert suite.dataset.params["path"] == str(tmp_path / "t.csv")
    assert suite.dataset.params["standardize"] is True and suite.dataset.params["dropna"] is False


def test_every_column_with_gaps_is_named_with_its_count(tmp_path: Path):
    rows = [{**row, "a": None} if i in (1, 2) else {**row, "b": None} if i == 3 else row for i, row in enumerate(ROWS)]
    file = _write(tmp_path, rows)
    with pytest.raises(HarnessError, match=r"/t\.csv: 3 rows have missing values, in columns 'a' \(2 missing\), "
                                           r"'b' \(1 missing\) \(set dropna: true to drop those rows\)$"):
        _load(file, features=("a", "b"))
