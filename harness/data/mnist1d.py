"""MNIST-1D (Greydanus, 2020), generated locally by the ``mnist1d`` package.

Only ``make_dataset`` is used, never the package's download path. With the
defaults this is the standard benchmark: 5000 sequences of length 40, 4000 for
training and 1000 for testing, generator seed 42.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import to_dataset


@contextmanager
def _restored_global_rng() -> Iterator[None]:
    """The generator reseeds ``random`` and ``numpy.random``; put their states back afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@functools.lru_cache(maxsize=4)
def _generate(num_samples: int, train_split: float, generator_seed: int) -> tuple[np.ndarray, ...]:
    """Generate once per process and argument set (about 2 s); the arrays are read-only."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, generator_seed
    with _restored_global_rng():
        data = make_dataset(args)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for array in arrays:
        array.flags.writeable = False
    return arrays


@DATASETS.register("mnist1d")
def mnist1d(
    *,
    seed: int,
    num_samples: Annotated[int, Field(ge=20)] = 5000,
    train_split: Annotated[float, Field(gt=0, lt=1)] = 0.8,
    generator_seed: int = 42,
    transfer_samples: Annotated[int, Field(ge=0, le=1_000_000)] = 0,
) -> Dataset:
    """MNIST-1D as (N, 1, 40) sequences, standardised by the generator.

    The split is the package's own fixed one, so ``seed`` (part of every
    dataset's contract) does not change it; ``generator_seed`` draws a
    different dataset (42 is the published benchmark's). ``transfer_samples``
    more sequences, drawn by the same generator with the next generator seed
    (so none is a training or test example), form an unlabeled transfer set
    (``x_transfer``) for the methods that let the teacher label them.

    >>> ds = mnist1d(seed=0)
    >>> ds.input_shape, len(ds.y_train), len(ds.y_test), ds.x_transfer
    ((1, 40), 4000, 1000, None)
    """
    del seed  # the benchmark's split is fixed; see the docstring
    x_train, y_train, x_test, y_test = _generate(num_samples, train_split, generator_seed)
    data = to_dataset("mnist1d", x_train[:, None, :], y_train, x_test[:, None, :], y_test, num_classes=10)
    if not transfer_samples:
        return data
    extra_train, _, extra_test, _ = _generate(max(transfer_samples, 20), 0.5, generator_seed + 1)
    extra = np.concatenate([extra_train, extra_test])[:transfer_samples, None, :]
    return dataclasses.replace(data, x_transfer=torch.tensor(extra, dtype=torch.float32))
