"""The ``arrays`` dataset: named tensors of any shape from ``.npz`` and ``.safetensors`` files, exact splits,
and every bad input as one line naming the file (at ``harness validate`` where the file's index tells)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from harness.data import DATASETS
from harness.errors import HarnessError
from tests.conftest import ROOT

arrays = DATASETS.get("arrays")


def _write(path: Path, **named: np.ndarray) -> Path:
    if path.suffix == ".safetensors":
        save_file({k: np.ascontiguousarray(v) for k, v in named.items()}, str(path))
    else:
        np.savez(path, **named)
    return path


def _images(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 16, dtype=np.float32).reshape(n, 1, 4, 4)
    return x, (np.arange(n) % 2).astype(np.int64)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_image_like_tensors_keep_their_shape_and_split_exactly(tmp_path: Path, suffix: str) -> None:
    x, y = _images()
    file = _write(tmp_path / f"d{suffix}", images=x, labels=y)
    ds = arrays(seed=0, path=file, x="images", y="labels", test_fraction=0.25)
    assert ds.name == "arrays" and ds.input_shape == (1, 4, 4) and ds.num_classes == 2
    assert (len(ds.y_train), len(ds.y_test)) == (30, 10)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert int(ds.y_test.sum()) == 5  # stratified: half of each class
    assert float(ds.x_train.sum() + ds.x_test.sum()) == float(x.sum()) == 204480.0
    again = arrays(seed=0, path=file, x="images", y="labels", test_fraction=0.25)
    assert torch.equal(ds.x_test, again.x_test)
    assert not torch.equal(ds.x_test, arrays(seed=1, path=file, x="images", y="labels", test_fraction=0.25).x_test)


def test_a_split_of_the_files_own_and_int64_sequences(tmp_path: Path) -> None:
    tokens = np.arange(6 * 5, dtype=np.int64).reshape(6, 5)
    file = _write(tmp_path / "d.safetensors", tr=tokens, trl=np.array([0, 1, 2, 0, 1, 2]),
                  te=tokens[:3] + 1, tel=np.array([2, 1, 0]))
    ds = arrays(seed=0, path=file, x="tr", y="trl", x_test="te", y_test="tel")
    assert ds.input_shape == (5,) and ds.num_classes == 3 and (len(ds.y_train), len(ds.y_test)) == (6, 3)
    assert ds.x_test.tolist()[0] == [1.0, 2.0, 3.0, 4.0, 5.0] and ds.y_test.tolist() == [2, 1, 0]


def _fails(file: Path, **params: object) -> str:
    with pytest.raises(HarnessError) as info:
        arrays(seed=0, path=file, **params)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{file}: ")
    return message.removeprefix(f"{file}: ")


def test_every_bad_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    x, y = _images(10)
    good = _write(tmp_path / "good.npz", x=x, y=y)
    assert _fails(good, x="imgs") == "holds no array 'imgs' (it holds x, y)"
    assert _fails(_write(tmp_path / "k.npz", images=x, y=y), x="image") == \
        "holds no array 'image' (it holds images, y); did you mean images?"
    assert _fails(_write(tmp_path / "len.npz", x=x, y=y[:9])) == \
        "y must be 10 integer class ids from 0 (one per row of x); got int64 of shape (9,)"
    assert _fails(_write(tmp_path / "float.npz", x=x, y=y.astype(float))) == \
        "y must be 10 integer class ids from 0 (one per row of x); got float64 of shape (10,)"
    assert _fails(_write(tmp_path / "neg.npz", x=x, y=y - 1)) == \
        "y must be 10 integer class ids from 0 (one per row of x); got int64 of shape (10,), smallest -1"
    assert _fails(_write(tmp_path / "one.npz", x=x, y=np.zeros(10, np.int64))) == \
        "target 'y' has 1 class (0): a classifier needs at least two"
    assert _fails(_write(tmp_path / "nan.npz", x=np.full((10, 3), np.nan), y=y)) == \
        "x must be finite numbers of shape (N, *input_shape); got float64 of shape (10, 3)"
    few = _write(tmp_path / "few.npz", x=x[:4], y=np.array([0, 1, 2, 3]))
    with pytest.raises(HarnessError, match=r"^dataset arrays .*few.npz: cannot split with test_fraction=0.2: "):
        arrays(seed=0, path=few)
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,0\n")
    assert _fails(csv) == "an arrays dataset reads a .npz or .safetensors file, not .csv"
    broken = tmp_path / "bad.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{nonsense")
    assert _fails(broken).startswith("not a readable .safetensors file (")
    assert _fails(tmp_path / "gone.npz") == "cannot read: No such file or directory"
    assert _fails(good, x_test="x") == ("x_test and y_test name a test split of the file's own together: "
                                        "give both or neither")


def _suite(tmp_path: Path, dataset: str) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""name: arrays-tiny
dataset: {dataset}
teacher:
  arch: mlp
  params: {{hidden: [16]}}
  train: {{epochs: 30, lr: 1.0e-2, batch_size: 32}}
students:
  - name: kd-4
    arch: mlp
    params: {{hidden: [4]}}
    method: {{name: kd, temperature: 4.0, alpha: 0.9, epochs: 2}}
measure:
  batch_sizes: [1]
  latency: {{min_iters: 5, max_seconds: 0.05}}
seeds: [0]
""")
    return suite


@pytest.mark.parametrize(("dataset", "expected"), [
    ("{name: arrays, path: d.npz, x: imgs}", "dataset.x: {file}: holds no array 'imgs' (it holds images, "
                                             "labels); did you mean images?"),
    ("{name: arrays, path: d.npz, x: images, y: label}", "dataset.y: {file}: holds no array 'label' (it holds "
                                                         "images, labels); did you mean labels?"),
    ("{name: arrays, path: d.csv}", "dataset.path: {dir}/d.csv: an arrays dataset reads a .npz or .safetensors "
                                    "file, not .csv"),
    ("{name: arrays, path: d.npz, x: images, y: labels, x_test: images}",
     "dataset.y_test: x_test and y_test name a test split of the file's own together: give both or neither"),
])
def test_validate_reads_the_files_index(tmp_path: Path, dataset: str, expected: str) -> None:
    from harness.errors import SuiteError
    from harness.suite import load_suite

    x, y = _images()
    file = _write(tmp_path / "d.npz", images=x, labels=y)
    (tmp_path / "d.csv").write_text("x\n")
    suite = _suite(tmp_path, dataset)
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert str(info.value) == f"{suite}:2: " + expected.format(file=file, dir=tmp_path)


def test_a_suite_on_an_arrays_file_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    _write(tmp_path / "blobs.safetensors", inputs=(rng.normal(size=(120, 2, 4)) + 3 * y[:, None, None])
           .astype(np.float32), classes=y.astype(np.int64))
    suite = _suite(tmp_path, "{name: arrays, path: blobs.safetensors, x: inputs, y: classes, test_fraction: 0.25}")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out",
                             str(tmp_path / "results"), "--no-report"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "dataset arrays: 90 train / 30 test" in result.stderr
    import pandas as pd

    rows = pd.read_parquet(Path(result.stdout.strip().splitlines()[-1]) / "measurements.parquet")
    accuracy = rows[rows.metric == "accuracy"].set_index("model")["value"]
    assert set(accuracy.index) == {"teacher", "kd-4"} and accuracy["teacher"] > 0.5
