"""Shared helpers for datasets: a deterministic stratified split and tensor conversion."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data.base import Dataset
from harness.errors import HarnessError


def stratified_split(
    x: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``x, y`` into ``x_train, x_test, y_train, y_test`` keeping class proportions.

    The same ``seed`` always gives the same split (scikit-learn's ``random_state``).
    """
    from sklearn.model_selection import train_test_split

    try:
        parts = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    except ValueError as exc:
        raise HarnessError(f"dataset {name}: cannot split with test_fraction={test_fraction}: {exc}") from None
    x_train, x_test, y_train, y_test = parts
    return x_train, x_test, y_train, y_test


def to_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
) -> Dataset:
    """Copy numpy arrays into a :class:`Dataset` of float32 features and int64 labels."""
    return Dataset(
        name=name,
        x_train=torch.tensor(x_train, dtype=torch.float32),
        y_train=torch.tensor(y_train, dtype=torch.int64),
        x_test=torch.tensor(x_test, dtype=torch.float32),
        y_test=torch.tensor(y_test, dtype=torch.int64),
        num_classes=num_classes,
    )


def split_rows(path: Path, y: np.ndarray, classes: list[Any], test_fraction: float, seed: int,
               is_test: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of train and test of a user's file: stratified by ``seed``, or as ``is_test`` says where the
    data came split; one line naming the file when a side is empty or a class misses either side.

    >>> train, test = split_rows(Path("t.csv"), np.array([0, 1] * 5), ["a", "b"], 0.2, seed=0)
    >>> len(train), len(test)
    (8, 2)
    >>> split_rows(Path("t.csv"), np.array([0, 0, 0, 1]), ["a", "b"], 0.5, seed=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    harness.errors.HarnessError: t.csv: too few rows to split with test_fraction=0.5: 4 rows, class 'b' has 1; ...
    """
    counts = np.bincount(y, minlength=len(classes))
    if is_test is None:
        n_test = math.ceil(test_fraction * len(y))
        if counts.min() < 2 or n_test < len(classes) or len(y) - n_test < len(classes):
            rarest = int(counts.argmin())
            raise HarnessError(f"{path}: too few rows to split with test_fraction={test_fraction}: {len(y)} rows, "
                               f"class {classes[rarest]!r} has {counts[rarest]}; every class needs a row in train "
                               f"and in test")
        train, test, _, _ = stratified_split(np.arange(len(y)), y, test_fraction=test_fraction, seed=seed,
                                             name=str(path))
        why = f"too few rows to split with test_fraction={test_fraction}"
    else:
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        why = "the data came split"
    for part, rows in (("train", train), ("test", test)):
        if not len(rows):
            raise HarnessError(f"{path}: the {part} split has no rows")
        if missing := sorted(set(range(len(classes))) - set(y[rows].tolist())):
            count = int(counts[missing[0]])
            raise HarnessError(f"{path}: {why}: class {classes[missing[0]]!r} ({count} row{'' if count == 1 else 's'}) "
                               f"has none in the {part} split; every class needs a row in train and in test")
    return np.sort(train), np.sort(test)
