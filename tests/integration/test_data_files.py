"""Data files at run time: ``harness run`` with a data file that is missing or bad exits 2 with one line,
before a run directory exists; a good one runs, recorded by its absolute path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES, ROOT

DATASET = "{name: synthetic, num_samples: 120, seed: 0}"


def _suite(tmp_path: Path, dataset: str) -> Path:
    text = (FIXTURES / "tiny.yaml").read_text()
    assert DATASET in text
    (tmp_path / "suite.yaml").write_text(text.replace(DATASET, dataset).replace("batch_sizes: [1, 8]",
                                                                                 "batch_sizes: [1]"))
    return tmp_path / "suite.yaml"


def _run(suite: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), "--no-report"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _blobs(path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    np.savez(path, x=rng.normal(size=(120, 8)) + y[:, None], y=y)
    return path


def _assert_refused(result: subprocess.CompletedProcess[str], out: Path) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert not out.exists() or not any(out.iterdir()), "a refused run left a run directory behind"
    return lines[0]


def test_a_missing_data_file_is_one_line_and_no_run_directory(tmp_path: Path):
    suite = _suite(tmp_path, "{name: npz, path: data/blobs.npz, seed: 0}")
    line = _assert_refused(_run(suite, tmp_path / "results"), tmp_path / "results")
    assert line == f"{suite}:2: dataset.path: data file not found: {tmp_path / 'data' / 'blobs.npz'}"


@pytest.mark.parametrize("damage", ["truncated", "not arrays"])
def test_a_bad_data_file_is_one_line_and_no_run_directory(tmp_path: Path, damage: str):
    """It exists, but validation reads its index: the suite is refused at the line of the path."""
    data = _blobs(tmp_path / "blobs.npz")
    data.write_bytes(data.read_bytes()[:100] if damage == "truncated" else b"x,y\n1,2\n")
    suite = _suite(tmp_path, "{name: npz, path: blobs.npz}")
    line = _assert_refused(_run(suite, tmp_path / "results"), tmp_path / "results")
    assert line == (f"{suite}:2: dataset.path: {data}: not a zip of arrays: an npz dataset reads a .npz file, "
                    "as np.savez writes it")


def test_a_users_loader_that_raises_is_one_line_and_no_run_directory(tmp_path: Path):
    """A path typed ``str`` is not known to be a file before the run: what the loader raises is one line."""
    (tmp_path / "my_csv_loader.py").write_text("def load(*, seed: int, file: str):\n    return open(file).read()\n")
    suite = _suite(tmp_path, "{name: 'my_csv_loader:load', file: gone.csv}")
    line = _assert_refused(_run(suite, tmp_path / "results"), tmp_path / "results")
    assert line == ("dataset my_csv_loader:load: FileNotFoundError: [Errno 2] No such file or directory: "
                    "'gone.csv'")


def test_a_good_data_file_runs(tmp_path: Path):
    _blobs(tmp_path / "blobs.npz")
    result = _run(_suite(tmp_path, "{name: npz, path: blobs.npz, test_fraction: 0.25}"), tmp_path / "results")
    assert result.returncode == 0, result.stderr
    from harness.store import read_manifest

    manifest = read_manifest(Path(result.stdout.strip().splitlines()[-1]))
    assert manifest.suite["dataset"]["params"] == {"path": str(tmp_path / "blobs.npz"), "test_fraction": 0.25}


def test_a_changed_data_file_rebuilds_and_the_same_content_does_not(tmp_path: Path):
    """The cache keys hold the data file's sha256: new content retrains, the same bytes rewritten do not."""
    import os

    data = _blobs(tmp_path / "blobs.npz")
    suite, out = _suite(tmp_path, "{name: npz, path: blobs.npz}"), tmp_path / "results"
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}

    def built() -> list[str]:
        """The models this run trained (the others came from the cache)."""
        result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out),
                                 "--no-report"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr
        lines = [line.split("]", 1)[1].strip() for line in result.stderr.splitlines()
                 if line.endswith(": building") or ": from cache (" in line]
        assert len(lines) == 2, result.stderr
        return sorted(line.removesuffix(": building") for line in lines if line.endswith(": building"))

    assert built() == ["kd-4 (seed 0)", "teacher"]
    assert built() == []
    same = data.read_bytes()
    rng = np.random.default_rng(1)
    y = np.arange(120) % 3
    np.savez(data, x=rng.normal(size=(120, 8)) + y[:, None], y=y)
    assert data.read_bytes() != same
    assert built() == ["kd-4 (seed 0)", "teacher"]
    changed = data.read_bytes()
    data.unlink()
    data.write_bytes(changed)  # the same content, a new file and mtime
    assert built() == []
