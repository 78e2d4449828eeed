"""``table``: your own data, as a table in a ``.csv``, ``.parquet`` or ``.feather`` file beside the suite.

One column is the ``target`` (class labels: text, or any values, mapped to class ids 0..K-1 in sorted
order; integers 0..K-1 are kept as they are); the features are every other column, or those listed in
``features``. Numeric features are standardised with the training split's mean and std (unless
``standardize: false``); the columns listed in ``categorical`` are one-hot encoded with the categories
of the training split (a category seen only in the test split is all zeros). The rows are split
stratified by ``seed``. What the dataset learned is in :attr:`Dataset.info`: the class of each id, the
feature names after one-hot, the mean and std of each standardised feature, the categories and the
rows dropped.

``harness validate`` checks the file's extension, that every named column exists (from the header) and
that the target holds two classes at least (its column is read), each naming the field; then it loads
the rows as a run does (:mod:`harness.preflight`), so the checks of the rows (a column that is not numbers,
a missing value, too few rows for the split) are one line there too, naming the file and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from pydantic import AfterValidator, Field, ValidationInfo

from harness.data.base import DATASETS, Dataset, two_classes_at_least
from harness.data.split import split_rows
from harness.data.table_io import EXTENSIONS, columns_of, read_table, supported
from harness.errors import HarnessError
from harness.registry import did_you_mean


def unknown_column(names: str | tuple[str, ...] | None, columns: list[str], file: str) -> str | None:
    """What is wrong when one of ``names`` is no column of the table, or None."""
    for name in () if names is None else (names,) if isinstance(names, str) else names:
        if name not in columns:
            shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
            return f"no column {name!r} in {file} (columns: {shown}{did_you_mean(name, columns)})"
    return None


def _known(names: str | tuple[str, ...] | None, info: ValidationInfo) -> Any:
    """``names`` once each is a column of the file (``path``, validated before): at ``harness validate``."""
    path = info.data.get("path")
    if path is not None and (problem := unknown_column(names, columns_of(Path(path)), Path(path).name)):
        raise ValueError(problem)
    return names


def _two_classes(target: str, info: ValidationInfo) -> str:
    """At ``harness validate``: the target column (its values read) holds at least two classes."""
    path = info.data.get("path")
    if path is not None:
        try:
            classes(Path(path), read_table(Path(path))[target].dropna())
        except HarnessError as exc:
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    return target


Column = Annotated[str, AfterValidator(_known)]
Columns = Annotated[tuple[str, ...], AfterValidator(_known)]
Target = Annotated[str, AfterValidator(_known), AfterValidator(_two_classes)]
TestFraction = Annotated[float, Field(gt=0, lt=1, description="share of rows held out for testing (stratified)")]
Standardize = Annotated[bool, Field(description="scale numeric features by the training split's mean and std")]
DropNA = Annotated[bool, Field(description="drop rows with a missing value (else a missing value is an error)")]


@DATASETS.register("table")
def table(
    *,
    seed: int,
    path: Annotated[Path, AfterValidator(supported), Field(
        description=f"the table ({', '.join(EXTENSIONS)}), from the suite's folder (checked by harness validate)")],
    target: Annotated[Target, Field(description="the column of class labels (two classes at least: checked by harness "
                                                "validate)")],
    features: Annotated[Columns | None, Field(description="the feature columns; default: every column but target")]
    = None,
    categorical: Annotated[Columns, Field(description="feature columns of categories, one-hot encoded")] = (),
    test_fraction: TestFraction = 0.2,
    standardize: Standardize = True,
    dropna: DropNA = False,
) -> Dataset:
    """Your own table: one row per example, the ``target`` column's classes, numeric and categorical features.

    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = file.write_text("a,b,kind\\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\\n" for i in range(20)))
    >>> ds = table(seed=0, path=file, target="kind")
    >>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test), ds.info["classes"]
    ((2,), 2, 16, 4, ['x', 'y'])
    """
    return from_frame("table", path, read_table(path), target=target, features=features, categorical=categorical,
                      test_fraction=test_fraction, seed=seed, standardize=standardize, dropna=dropna)


def from_frame(name: str, path: Path, frame: pd.DataFrame, *, target: str, features: tuple[str, ...] | None,
               categorical: tuple[str, ...], test_fraction: float, seed: int, standardize: bool, dropna: bool,
               is_test: np.ndarray | None = None) -> Dataset:
    """The ``table`` steps on a frame read from ``path``: split stratified by ``seed``, or as ``is_test`` says."""
    for named in (target, features, categorical):
        if problem := unknown_column(named, list(frame.columns), path.name):
            raise HarnessError(f"{path}: {problem}")
    names = list(features) if features is not None else [c for c in frame.columns if c != target]
    _check_columns(path, target, names, categorical)
    if is_test is not None and dropna:
        is_test = is_test[frame[[target, *names]].notna().all(axis=1).to_numpy()]
    frame, dropped = _missing(path, frame[[target, *names]], dropna)
    y, labels = classes(path, frame[target])
    for column in names:
        if column not in categorical and not _numeric(frame[column]):
            example = frame[column].iloc[0] if len(frame) else None
            raise HarnessError(f"{path}: feature column {column!r} is not numbers ({frame[column].dtype}, e.g. "
                               f"{example!r:.40}): declare it in categorical: to one-hot encode it, "
                               f"or leave it out of features:")
    train, test = split_rows(path, y, labels, test_fraction, seed, is_test)
    x_train, x_test, info = _encode(frame.iloc[train], frame.iloc[test], names, categorical, standardize)
    info = {"path": str(path), "target": target, "classes": labels, "rows": len(frame), "rows_dropped": dropped,
            **info}
    return Dataset(name=name, x_train=torch.tensor(x_train, dtype=torch.float32),
                   y_train=torch.tensor(y[train], dtype=torch.int64), x_test=torch.tensor(x_test, dtype=torch.float32),
                   y_test=torch.tensor(y[test], dtype=torch.int64), num_classes=len(labels), info=info)


def _check_columns(path: Path, target: str, names: list[str], categorical: tuple[str, ...]) -> None:
    if target in names:
        raise HarnessError(f"{path}: column {target!r} is the target: leave it out of features")
    if not names:
        raise HarnessError(f"{path}: no feature columns: the table has only the target {target!r}")
    if stray := [c for c in categorical if c not in names]:
        raise HarnessError(f"{path}: categorical column {stray[0]!r} is not one of the features "
                           f"({'the target' if stray[0] == target else 'add it to features:'})")


def _numeric(column: pd.Series) -> bool:
    return column.dtype.kind in "biuf"


def _missing(path: Path, frame: pd.DataFrame, dropna: bool) -> tuple[pd.DataFrame, int]:
    """``frame`` less the rows with a missing value (``dropna``), and how many; or one line naming every column
    with gaps and its count.

    >>> _missing(Path("t.csv"), pd.DataFrame({"a": [1, None, None], "b": [1, 2, 3], "c": [None, 1, 2]}), False)
    Traceback (most recent call last):
    harness.errors.HarnessError: t.csv: 3 rows have missing values, in columns 'a' (2 missing), 'c' (1 missing) \
(set dropna: true to drop those rows)
    """
    counts = frame.isna().sum()
    if not counts.any():
        return frame.reset_index(drop=True), 0
    if not dropna:
        gaps = ", ".join(f"{str(column)!r} ({int(n)} missing)" for column, n in counts[counts > 0].items())
        rows = int(frame.isna().any(axis=1).sum())
        raise HarnessError(f"{path}: {rows} row{'' if rows == 1 else 's'} {'has' if rows == 1 else 'have'} missing "
                           f"values, in column{'' if (counts > 0).sum() == 1 else 's'} {gaps} "
                           f"(set dropna: true to drop those rows)")
    kept = frame.dropna().reset_index(drop=True)
    return kept, len(frame) - len(kept)


def classes(path: Path, column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Class ids 0..K-1 and the label of each: integers 0..K-1 as they are, anything else in sorted order (the
    table and text_table datasets' targets)."""
    values = column.to_numpy()
    if values.dtype.kind not in "biuf":
        values = values.astype(str)
    labels = sorted(set(values.tolist()))
    two_classes_at_least(path, str(column.name), labels)
    ids = {label: i for i, label in enumerate(labels)}
    return np.array([ids[v] for v in values.tolist()], dtype=np.int64), [_plain(v) for v in labels]


def _plain(value: Any) -> Any:
    """A JSON-native value: an integral float as an int (``1.0`` -> ``1``), numpy scalars as Python ones."""
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _encode(train: pd.DataFrame, test: pd.DataFrame, names: list[str], categorical: tuple[str, ...],
            standardize: bool) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Feature matrices of both splits, in ``names``' order (a categorical column as its one-hot columns)."""
    parts_train: list[np.ndarray] = []
    parts_test: list[np.ndarray] = []
    features: list[str] = []
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    categories: dict[str, list[Any]] = {}
    for name in names:
        if name in categorical:
            seen = sorted(set(train[name].astype(str)))
            categories[name] = seen
            for part, frame in ((parts_train, train), (parts_test, test)):
                part.append(frame[name].astype(str).to_numpy()[:, None] == np.array(seen)[None, :])
            features += [f"{name}={value}" for value in seen]
            continue
        column_train = train[name].to_numpy(dtype=np.float64)
        column_test = test[name].to_numpy(dtype=np.float64)
        if standardize:
            mu, sigma = float(column_train.mean()), float(column_train.std())
            mean[name], std[name] = mu, sigma
            scale = sigma if sigma > 0 else 1.0  # a constant column: centred, not divided by zero
            column_train, column_test = (column_train - mu) / scale, (column_test - mu) / scale
        parts_train.append(column_train[:, None])
        parts_test.append(column_test[:, None])
        features.append(name)
    info = {"features": features, "standardized": {"mean": mean, "std": std} if standardize else None,
            "categories": categories}
    return (np.hstack(parts_train).astype(np.float32), np.hstack(parts_test).astype(np.float32), info)
