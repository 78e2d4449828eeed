"""``npz``: your own data, as arrays in a NumPy ``.npz`` file beside the suite (``np.savez``).

The file holds ``x`` and ``y``, split here stratified by ``seed``, or a split of its own: ``x_train``,
``y_train``, ``x_test`` and ``y_test``. ``x`` is finite numbers of shape (N, *input_shape), read as
float32; ``y`` is N integer class ids from 0. It is read with ``allow_pickle=False``: a data file cannot
run code. ``harness validate`` checks that the file exists; what it holds is checked when a run loads it,
before the run directory is made, and a bad file is one line naming it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import stratified_split, to_dataset
from harness.errors import HarnessError, one_line

SPLIT = ("x_train", "y_train", "x_test", "y_test")
TEST_FRACTION = "share of x and y held out for testing (stratified); unused with a split of its own"


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the file by name; anything but a readable ``.npz`` of plain arrays is a HarnessError."""
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as file:
                held = "one array (.npy)" if file.read(6) == b"\x93NUMPY" else "not a zip of arrays"
            raise HarnessError(f"{path}: {held}: an npz dataset reads a .npz file, as np.savez writes it")
        with np.load(path, allow_pickle=False) as found:
            return {name: found[name] for name in found.files}
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise HarnessError(f"{path}: not a readable .npz file of plain arrays ({one_line(exc)})") from None


def _checked(path: Path, x: np.ndarray, y: np.ndarray, part: str) -> None:
    """``x`` finite numbers of shape (N, ...), ``y`` N class ids from 0, or one line saying what is wrong."""
    if x.ndim < 2 or x.dtype.kind not in "biuf" or not np.isfinite(x).all():
        raise HarnessError(f"{path}: x{part} must be finite numbers of shape (N, *input_shape); "
                           f"got {x.dtype} of shape {x.shape}")
    if y.shape != (len(x),) or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise HarnessError(f"{path}: y{part} must be {len(x)} integer class ids from 0 (one per row of x{part}); "
                           f"got {y.dtype} of shape {y.shape}")


@DATASETS.register("npz")
def npz(
    *,
    seed: int,
    path: Annotated[Path, Field(description="the .npz file, from the suite's folder (checked by harness validate)")],
    test_fraction: Annotated[float, Field(gt=0, lt=1, description=TEST_FRACTION)] = 0.2,
) -> Dataset:
    """Your own arrays from a ``.npz`` file: ``x`` and ``y`` (split by ``seed``), or ``x_train`` ... ``y_test``.

    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(file, x=np.random.default_rng(0).normal(size=(40, 3)), y=np.arange(40) % 2)
    >>> ds = npz(seed=0, path=file)
    >>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test)
    ((3,), 2, 32, 8)
    """
    arrays = read_npz(path)
    if {"x", "y"} <= arrays.keys():
        _checked(path, arrays["x"], arrays["y"], "")
        x_train, x_test, y_train, y_test = stratified_split(arrays["x"], arrays["y"], test_fraction=test_fraction,
                                                            seed=seed, name=f"npz {path}")
    elif set(SPLIT) <= arrays.keys():
        x_train, y_train, x_test, y_test = (arrays[name] for name in SPLIT)
        _checked(path, x_train, y_train, "_train")
        _checked(path, x_test, y_test, "_test")
        if x_train.shape[1:] != x_test.shape[1:]:
            raise HarnessError(f"{path}: x_train's rows are {x_train.shape[1:]} but x_test's {x_test.shape[1:]}")
    else:
        held = ", ".join(sorted(arrays)) or "no arrays"
        raise HarnessError(f"{path}: holds {held}; an npz dataset needs arrays x and y, "
                           f"or x_train, y_train, x_test and y_test")
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return to_dataset("npz", x_train, y_train, x_test, y_test, num_classes=num_classes)
