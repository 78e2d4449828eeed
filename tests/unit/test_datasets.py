"""Built-in datasets: registry names, shapes, dtypes, determinism, parameter validation."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch

from harness.data import DATASETS, Dataset
from harness.errors import HarnessError
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
    assert params.model_dump() == {"num_samples": 1000, "train_split": 0.8, "generator_seed": 42, "transfer_samples": 0}


def _npz(path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_splits_x_and_y_by_seed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    file = _npz(tmp_path / "d.npz", x=rng.normal(size=(60, 2, 3)), y=np.arange(60) % 3)
    ds = DATASETS.get("npz")(seed=1, path=file, test_fraction=0.25)
    assert_well_formed(ds, (2, 3), 45, 15)
    assert ds.num_classes == 3
    assert_same(ds, DATASETS.get("npz")(seed=1, path=file, test_fraction=0.25))
    assert not torch.equal(ds.y_test, DATASETS.get("npz")(seed=2, path=file, test_fraction=0.25).y_test)


def test_npz_keeps_a_split_of_its_own(tmp_path: Path) -> None:
    file = _npz(tmp_path / "d.npz", x_train=np.zeros((6, 4), np.float16), y_train=np.array([0, 1, 2, 0, 1, 2]),
                x_test=np.ones((3, 4)), y_test=np.array([0, 1, 2], np.uint8))
    ds = DATASETS.get("npz")(seed=0, path=file)
    assert_well_formed(ds, (4,), 6, 3)
    assert ds.x_test.sum() == 12


@pytest.mark.parametrize(("arrays", "expected"), [
    ({"a": np.zeros(3)}, "holds a; an npz dataset needs arrays x and y, or x_train, y_train, x_test and y_test"),
    ({"x": np.zeros(4), "y": np.arange(4)}, "x must be finite numbers of shape (N, *input_shape); got float64 of "
                                            "shape (4,)"),
    ({"x": np.full((4, 2), np.nan), "y": np.arange(4)}, "x must be finite numbers"),
    ({"x": np.array([["a"], ["b"]]), "y": np.arange(2)}, "x must be finite numbers"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4.0)}, "y must be 4 integer class ids from 0 (one per row of x); got "
                                                   "float64 of shape (4,)"),
    ({"x": np.zeros((4, 2)), "y": np.arange(3)}, "y must be 4 integer class ids"),
    ({"x": np.zeros((4, 2)), "y": -np.arange(4)}, "y must be 4 integer class ids"),
    ({"x": np.array([{}], object), "y": np.arange(1)}, "not a readable .npz file of plain arrays (ValueError: Object "
                                                       "arrays cannot be loaded when allow_pickle=False)"),
    ({"x_train": np.zeros((4, 2)), "y_train": np.arange(4), "x_test": np.zeros((2, 3)), "y_test": np.arange(2)},
     "x_train's rows are (2,) but x_test's (3,)"),
])
def test_npz_refuses_bad_content_in_one_line_naming_the_file(tmp_path: Path, arrays: dict, expected: str) -> None:
    file = _npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(HarnessError) as info:
        DATASETS.get("npz")(seed=0, path=file)
    assert str(info.value).startswith(f"{file}: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "not a zip of arrays: an npz dataset reads a .npz file, as np.savez writes it"),
    (b"\x93NUMPY\x01\x00v\x00", "one array (.npy): an npz dataset reads a .npz file"),
    (None, "cannot read: No such file or directory"),
    ("cut", "not a zip of arrays"),
    ("flipped", "not a readable .npz file of plain arrays (BadZipFile: Bad CRC-32"),
])
def test_npz_refuses_a_file_that_is_no_npz(tmp_path: Path, content: bytes | str | None, expected: str) -> None:
    good = _npz(tmp_path / "good.npz", x=np.zeros((40, 3)), y=np.arange(40) % 2).read_bytes()
    file = tmp_path / "d.npz"
    if content == "cut":
        file.write_bytes(good[: len(good) // 2])
    elif content == "flipped":
        file.write_bytes(good[:200] + bytes(b ^ 0xFF for b in good[200:210]) + good[210:])
    elif content is not None:
        assert isinstance(content, bytes)
        file.write_bytes(content)
    with pytest.raises(HarnessError) as info:
        DATASETS.get("npz")(seed=0, path=file)
    assert str(info.value).startswith(f"{file}: ") and expected in str(info.value), str(info.value)


def _suite_with_dataset(tmp_path: Path, module: str, dataset: str):
    """A suite whose dataset is ``load`` of a module of its own (a fresh name: each test's code is new)."""
    from harness.suite import load_suite
    from tests.conftest import FIXTURES

    name = f"loaders_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(module)
    text = (FIXTURES / "tiny.yaml").read_text().replace("{name: synthetic, num_samples: 120, seed: 0}",
                                                         dataset.replace("loaders_xyz", name))
    (tmp_path / "suite.yaml").write_text(text)
    return load_suite(tmp_path / "suite.yaml")


@pytest.mark.parametrize(("body", "expected"), [
    ("    return open(path).read()", "dataset loaders_xyz:load: FileNotFoundError: [Errno 2] No such file or "
                                   "directory: 'no-such-file.csv'"),
    ("    raise ValueError('line 3: not a number\\nmore')",
     "dataset loaders_xyz:load: ValueError: line 3: not a number"),
    ("    return None", "dataset loaders_xyz:load: returned a NoneType, not a harness.data.Dataset"),
])
def test_whatever_a_dataset_raises_is_one_harness_error_line(tmp_path: Path, body: str, expected: str) -> None:
    """A user's loader may raise anything (a path typed ``str`` is not checked by validate): one line, exit 2."""
    from harness.preflight import load_dataset
    from harness.registry import extra_sys_path

    suite = _suite_with_dataset(tmp_path, f"def load(*, seed: int, path: str = 'x'):\n{body}\n",
                                "{name: 'loaders_xyz:load', path: no-such-file.csv}")
    with extra_sys_path(tmp_path), pytest.raises(HarnessError) as info:
        load_dataset(suite)
    assert str(info.value) == expected.replace("loaders_xyz", suite.dataset.name.partition(":")[0])


def test_a_path_parameter_reaches_the_dataset_as_a_path(tmp_path: Path) -> None:
    from harness.preflight import load_dataset
    from harness.registry import extra_sys_path

    module = ("from pathlib import Path\nfrom harness.data import DATASETS\n"
              "def load(*, seed: int, path: Path, shape: tuple[int, ...] = (1,)):\n"
              "    assert isinstance(path, Path) and path.is_absolute() and shape == (2, 3), (path, shape)\n"
              "    return DATASETS.get('synthetic')(seed=seed)\n")
    (tmp_path / "d.csv").write_text("")
    suite = _suite_with_dataset(tmp_path, module, "{name: 'loaders_xyz:load', path: d.csv, shape: [2, 3]}")
    with extra_sys_path(tmp_path):
        assert load_dataset(suite).num_classes == 3
