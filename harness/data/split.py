"""Shared helpers for datasets: a deterministic stratified split and tensor conversion."""

from __future__ import annotations

from pathlib import Path

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


def given_split(path: Path, is_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of train and test where the data came split; an empty side is one line."""
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    for part, rows in (("train", train), ("test", test)):
        if not len(rows):
            raise HarnessError(f"{path}: the {part} split has no rows")
    return train, test
