"""Gaussian blobs: a tiny, fast, fully deterministic dataset for unit tests only.

It measures nothing real; suites that report numbers should use real data
(digits, mnist1d, mnist).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import stratified_split, to_dataset


@DATASETS.register("synthetic")
def synthetic(
    *,
    seed: int,
    num_samples: Annotated[int, Field(ge=4)] = 200,
    num_features: Annotated[int, Field(ge=1)] = 8,
    num_classes: Annotated[int, Field(ge=2)] = 3,
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25,
) -> Dataset:
    """``num_classes`` unit-variance blobs in ``num_features`` dimensions, x of shape (N, num_features).

    Centres and points are drawn from ``seed``; classes are balanced (up to one sample).

    >>> ds = synthetic(seed=0)
    >>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test)
    ((8,), 3, 150, 50)
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(num_classes, num_features))
    y = np.arange(num_samples) % num_classes
    x = centres[y] + rng.normal(size=(num_samples, num_features))
    x_train, x_test, y_train, y_test = stratified_split(x, y, test_fraction=test_fraction, seed=seed, name="synthetic")
    return to_dataset("synthetic", x_train, y_train, x_test, y_test, num_classes=num_classes)
