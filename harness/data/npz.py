"""``npz``: your own data, as arrays in a NumPy ``.npz`` file beside the suite (``np.savez``).

The ``arrays`` loader with fixed names: the file holds ``x`` and ``y``, split here stratified by ``seed``, or a
split of its own: ``x_train``, ``y_train``, ``x_test`` and ``y_test``. ``x`` is finite numbers of shape
(N, *input_shape), read as float32; ``y`` is N integer class ids from 0. It is read with ``allow_pickle=False``:
a data file cannot run code. ``harness validate`` checks that the file exists and is a readable ``.npz``; what
it holds is checked when a run loads it, before the run directory is made, and a bad file is one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from harness.data.arrays import load_arrays, npz_names, read_npz, readable
from harness.data.base import DATASETS, Dataset
from harness.errors import HarnessError

SPLIT = ("x_train", "y_train", "x_test", "y_test")
TEST_FRACTION = "share of x and y held out for testing (stratified); unused with a split of its own"

__all__ = ["SPLIT", "npz", "read_npz"]


@DATASETS.register("npz")
def npz(
    *,
    seed: int,
    path: Annotated[Path, readable(npz_names),
                    Field(description="the .npz file, from the suite's folder (checked by harness validate)")],
    test_fraction: Annotated[float, Field(gt=0, lt=1, description=TEST_FRACTION)] = 0.2,
) -> Dataset:
    """Your own arrays from a ``.npz`` file: ``x`` and ``y`` (split by ``seed``), or ``x_train`` ... ``y_test``.

    >>> import tempfile
    >>> import numpy as np
    >>> file = Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(file, x=np.random.default_rng(0).normal(size=(40, 3)), y=np.arange(40) % 2)
    >>> ds = npz(seed=0, path=file)
    >>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test)
    ((3,), 2, 32, 8)
    """
    arrays = read_npz(Path(path))
    if {"x", "y"} <= arrays.keys():
        return load_arrays(Path(path), arrays, x="x", y="y", x_test=None, y_test=None,
                           test_fraction=test_fraction, seed=seed, name="npz")
    if set(SPLIT) <= arrays.keys():
        return load_arrays(Path(path), arrays, x="x_train", y="y_train", x_test="x_test", y_test="y_test",
                           test_fraction=test_fraction, seed=seed, name="npz")
    held = ", ".join(sorted(arrays)) or "no arrays"
    raise HarnessError(f"{path}: holds {held}; an npz dataset needs arrays x and y, or x_train, y_train, x_test "
                       "and y_test")
