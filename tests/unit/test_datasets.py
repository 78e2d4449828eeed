"""Built-in datasets: registry names, shapes, dtypes, determinism, parameter validation."""

from __future__ import annotations

import random

import numpy as np
import pydantic
import pytest
import torch

from harness.data import DATASETS, Dataset
from harness.registry import params_model

# First training labels of the standard MNIST-1D (generator seed 42), as the package generates it.
MNIST1D_FIRST_LABELS = [2, 6, 4, 5, 6, 6, 6, 0, 3, 1]


def assert_same(a: Dataset, b: Dataset) -> None:
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def assert_well_formed(ds: Dataset, input_shape: tuple[int, ...], n_train: int, n_test: int) -> None:
    assert ds.input_shape == input_shape
    assert ds.x_train.dtype == ds.x_test.dtype == torch.float32
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert (len(ds.x_train), len(ds.y_train), len(ds.x_test), len(ds.y_test)) == (
        n_train,
        n_train,
        n_test,
        n_test,
    )
    assert set(ds.y_train.tolist()) == set(range(ds.num_classes))
    assert set(ds.y_test.tolist()) == set(range(ds.num_classes))


def test_registry_has_every_builtin_dataset() -> None:
    assert {"digits", "mnist", "mnist1d", "synthetic"} <= set(DATASETS.names())


def test_digits_shapes_range_and_stratified_split() -> None:
    ds = DATASETS.get("digits")(seed=0)
    assert_well_formed(ds, (1, 8, 8), 1437, 360)
    assert ds.num_classes == 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    test_counts = torch.bincount(ds.y_test, minlength=10)
    all_counts = test_counts + torch.bincount(ds.y_train, minlength=10)
    assert torch.all((test_counts - 0.2 * all_counts).abs() <= 1)  # stratified


def test_digits_same_seed_same_split_other_seed_other_split() -> None:
    digits = DATASETS.get("digits")
    assert_same(digits(seed=3), digits(seed=3))
    assert not torch.equal(digits(seed=3).y_test, digits(seed=4).y_test)


def test_digits_test_fraction() -> None:
    ds = DATASETS.get("digits")(seed=0, test_fraction=0.5)
    assert (len(ds.y_train), len(ds.y_test)) == (898, 899)


def test_synthetic_is_small_fast_and_deterministic() -> None:
    synthetic = DATASETS.get("synthetic")
    ds = synthetic(seed=0)
    assert_well_formed(ds, (8,), 150, 50)
    assert ds.num_classes == 3
    assert_same(ds, synthetic(seed=0))
    assert not torch.equal(ds.x_train, synthetic(seed=1).x_train)
    other = synthetic(seed=0, num_samples=40, num_features=3, num_classes=4, test_fraction=0.5)
    assert_well_formed(other, (3,), 20, 20)


def test_mnist1d_standard_benchmark() -> None:
    mnist1d = DATASETS.get("mnist1d")
    ds = mnist1d(seed=0)
    assert_well_formed(ds, (1, 40), 4000, 1000)
    assert ds.num_classes == 10
    assert_same(ds, mnist1d(seed=1))  # the benchmark's split is fixed
    assert ds.y_train[:10].tolist() == MNIST1D_FIRST_LABELS


def test_mnist1d_generator_seed_and_global_rng_untouched() -> None:
    mnist1d = DATASETS.get("mnist1d")
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.rand())
    random.seed(7)
    np.random.seed(7)
    ds = mnist1d(seed=0, num_samples=200, generator_seed=1)
    assert (random.random(), np.random.rand()) == expected
    assert_well_formed(ds, (1, 40), 160, 40)
    assert not torch.equal(ds.x_train, mnist1d(seed=0, num_samples=200, generator_seed=2).x_train)


def test_cached_arrays_are_not_shared_with_callers() -> None:
    mnist1d = DATASETS.get("mnist1d")
    first = mnist1d(seed=0, num_samples=200)
    original = first.x_train.clone()
    first.x_train.zero_()
    assert torch.equal(mnist1d(seed=0, num_samples=200).x_train, original)


def test_mnist_real_subset() -> None:
    ds = DATASETS.get("mnist")(seed=0)
    assert_well_formed(ds, (1, 28, 28), 4000, 1000)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert torch.bincount(ds.y_test).tolist() == [100] * 10


@pytest.mark.parametrize("name", ["digits", "mnist", "mnist1d", "synthetic"])
def test_params_are_validated_from_the_signature(name: str) -> None:
    model = params_model(DATASETS.get(name), skip=("seed",))
    assert model() is not None  # every parameter has a default
    with pytest.raises(pydantic.ValidationError, match="extra"):
        model(no_such_param=1)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("digits", {"test_fraction": 1.5}),
        ("mnist", {"test_fraction": 0.0}),
        ("mnist1d", {"train_split": 1.0}),
        ("synthetic", {"num_classes": 1}),
        ("synthetic", {"num_samples": "many"}),
    ],
)
def test_out_of_range_params_are_rejected(name: str, params: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        params_model(DATASETS.get(name), skip=("seed",))(**params)


def test_valid_params_keep_their_values() -> None:
    params = params_model(DATASETS.get("mnist1d"), skip=("seed",))(num_samples=1000)
    assert params.model_dump() == {"num_samples": 1000, "train_split": 0.8, "generator_seed": 42}
