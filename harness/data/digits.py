"""scikit-learn's handwritten digits: 1797 real 8x8 images, 10 classes, shipped with sklearn."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import stratified_split, to_dataset


@DATASETS.register("digits")
def digits(*, seed: int, test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2) -> Dataset:
    """Digits as (N, 1, 8, 8) images scaled to [0, 1], split stratified by ``seed``.

    >>> ds = digits(seed=0)
    >>> ds.input_shape, ds.num_classes, len(ds.y_test)
    ((1, 8, 8), 10, 360)
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = stratified_split(x, y, test_fraction=test_fraction, seed=seed, name="digits")
    return to_dataset("digits", x_train, y_train, x_test, y_test, num_classes=10)
