"""``arrays``: your own tensors, named in a ``.npz`` (``np.savez``) or ``.safetensors`` file beside the suite.

``x`` names the inputs: N finite numbers of any shape per row (features, an image (C, H, W), a sequence),
read as float32; ``y`` names N integer class ids from 0. The rows are split here, stratified by ``seed``,
unless ``x_test`` and ``y_test`` name a test split of the file's own. Neither format can run code (an npz is
read with ``allow_pickle=False``). ``harness validate`` reads the file's index only: it checks that the file
is one of these formats and holds the arrays named; the values (finite x, class ids, at least two classes,
enough rows for the split) are checked when a run loads the file, before the run directory is made. Every bad
input is one line naming the file. ``npz`` is this loader with fixed names.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, ValidationInfo

from harness.data.base import DATASETS, Dataset, two_classes_at_least
from harness.data.split import stratified_split, to_dataset
from harness.errors import HarnessError, one_line
from harness.registry import did_you_mean

FORMATS = (".npz", ".safetensors")
TEST_FRACTION = "share of the rows held out for testing (stratified); unused with a split of the file's own"


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


def _format(path: Path) -> str:
    if path.suffix.lower() not in FORMATS:
        raise HarnessError(f"{path}: an arrays dataset reads a .npz or .safetensors file, not "
                           + (path.suffix or "a file with no extension"))
    return path.suffix.lower()


def _safetensors(path: Path, names_only: bool) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    try:
        if names_only:
            with safe_open(path, "np") as file:
                return dict.fromkeys(file.keys())
        return load_file(path)
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (SafetensorError, ValueError, TypeError) as exc:  # a bad header, a dtype numpy lacks (bfloat16)
        raise HarnessError(f"{path}: not a readable .safetensors file ({one_line(exc)})") from None


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` or ``.safetensors`` file by name, or one line naming the file."""
    return read_npz(path) if _format(path) == ".npz" else _safetensors(path, names_only=False)


def array_names(path: Path) -> list[str]:
    """The names of the arrays in the file, from its index only (no array is read): ``harness validate``."""
    return sorted(_safetensors(path, names_only=True)) if _format(path) == ".safetensors" else npz_names(path)


def npz_names(path: Path) -> list[str]:
    """The names of the arrays in a ``.npz`` file, from its zip index only, or one line naming the file."""
    try:
        if zipfile.is_zipfile(path):
            with np.load(path, allow_pickle=False) as found:
                return sorted(found.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        pass
    return sorted(read_npz(path))  # says what is wrong, in one line


def checked(path: Path, arrays: dict[str, np.ndarray], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """``arrays[x]`` finite numbers of shape (N, ...) and ``arrays[y]`` N class ids from 0, or one line."""
    if x not in arrays or y not in arrays:
        missing = x if x not in arrays else y
        raise HarnessError(f"{path}: holds no array {missing!r} (it holds {', '.join(sorted(arrays)) or 'none'})"
                           + did_you_mean(missing, sorted(arrays)))
    xs, ys = arrays[x], arrays[y]
    if xs.ndim < 2 or xs.dtype.kind not in "biuf" or not np.isfinite(xs).all():
        raise HarnessError(f"{path}: {x} must be finite numbers of shape (N, *input_shape); "
                           f"got {xs.dtype} of shape {xs.shape}")
    if ys.shape != (len(xs),) or ys.dtype.kind not in "iu" or (len(ys) and ys.min() < 0):
        raise HarnessError(f"{path}: {y} must be {len(xs)} integer class ids from 0 (one per row of {x}); "
                           f"got {ys.dtype} of shape {ys.shape}" + (f", smallest {ys.min()}" if ys.shape == (len(xs),)
                                                                    and ys.dtype.kind == "i" else ""))
    return xs, ys


def load_arrays(path: Path, arrays: dict[str, np.ndarray], *, x: str, y: str, x_test: str | None,
                y_test: str | None, test_fraction: float, seed: int, name: str) -> Dataset:
    """The dataset ``name`` of the arrays named in ``path``: ``x``, ``y`` split by ``seed``, or with a test
    split of the file's own (``x_test``, ``y_test``); ``arrays`` are the file's (:func:`read_arrays`)."""
    x_train, y_train = checked(path, arrays, x, y)
    two_classes_at_least(path, y, np.unique(y_train).tolist())
    if x_test is None or y_test is None:
        x_train, x_test_rows, y_train, y_test_rows = stratified_split(
            x_train, y_train, test_fraction=test_fraction, seed=seed, name=f"{name} {path}")
    else:
        x_test_rows, y_test_rows = checked(path, arrays, x_test, y_test)
        if x_train.shape[1:] != x_test_rows.shape[1:]:
            raise HarnessError(f"{path}: {x}'s rows are {x_train.shape[1:]} but {x_test}'s {x_test_rows.shape[1:]}")
    num_classes = int(max(y_train.max(initial=0), y_test_rows.max(initial=0))) + 1
    return to_dataset(name, x_train, y_train, x_test_rows, y_test_rows, num_classes=num_classes)


def readable(names: Callable[[Path], list[str]]) -> AfterValidator:
    """A path parameter's check at validation: ``names`` reads the file's index (its error as a ValueError)."""
    def check(path: Path) -> Path:
        try:
            names(path)
        except HarnessError as exc:
            raise ValueError(str(exc)) from None
        return path
    return AfterValidator(check)


def _held(name: str | None, info: ValidationInfo) -> str | None:
    """At validation: the array ``name`` is in the file (``path``, validated before it), with a "did you mean"."""
    path = info.data.get("path")
    if name is None or path is None:  # no name, or a path already refused
        return name
    names = array_names(path)
    if name not in names:
        raise ValueError(f"{path}: holds no array {name!r} (it holds {', '.join(names) or 'none'})"
                         + did_you_mean(name, names))
    return name


def _paired(name: str | None, info: ValidationInfo) -> str | None:
    if (name is None) != (info.data.get("x_test") is None) and "x_test" in info.data:
        raise ValueError("x_test and y_test name a test split of the file's own together: give both or neither")
    return _held(name, info)


#: a data file, checked by harness validate: its format and its index
ArraysFile = Annotated[Path, readable(array_names)]
Held = AfterValidator(_held)


@DATASETS.register("arrays")
def arrays(
    *,
    seed: int,
    path: Annotated[ArraysFile, Field(description="the .npz or .safetensors file, from the suite's folder")],
    x: Annotated[str, Held, Field(validate_default=True, description="the inputs' array: N rows of any shape")] = "x",
    y: Annotated[str, Held, Field(validate_default=True, description="the labels' array: N class ids from 0")] = "y",
    x_test: Annotated[str | None, Held, Field(description="a test split's inputs, with y_test")] = None,
    y_test: Annotated[str | None, AfterValidator(_paired),
                      Field(validate_default=True, description="a test split's labels, with x_test")] = None,
    test_fraction: Annotated[float, Field(gt=0, lt=1, description=TEST_FRACTION)] = 0.2,
) -> Dataset:
    """Your own tensors from a ``.npz`` or ``.safetensors`` file: ``x`` and ``y`` named as you like.

    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "images.npz"
    >>> np.savez(file, images=np.zeros((40, 1, 4, 4)), labels=np.arange(40) % 2)
    >>> ds = arrays(seed=0, path=file, x="images", y="labels")
    >>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test)
    ((1, 4, 4), 2, 32, 8)
    """
    if (x_test is None) != (y_test is None):
        raise HarnessError(f"{path}: x_test and y_test name a test split of the file's own together: "
                           "give both or neither")
    return load_arrays(Path(path), read_arrays(Path(path)), x=x, y=y, x_test=x_test, y_test=y_test,
                       test_fraction=test_fraction, seed=seed, name="arrays")
