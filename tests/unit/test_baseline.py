"""Baselines: a finished run copied under a name; unfinished runs and existing names refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.baseline import list_baselines, locate, save_baseline
from harness.errors import HarnessError
from harness.store import RunWriter
from tests.helpers import MANIFEST_KEYS
from tests.unit.test_compare import make_run


def test_save_copies_the_run_byte_for_byte_and_list_finds_it(tmp_path: Path):
    run = make_run(tmp_path, "r", accuracy={"t": [(0.9, 0.88, 0.92)]})
    saved = save_baseline(run.path, "mine", tmp_path / "baselines")
    for name in ("manifest.json", "measurements.parquet", "samples.parquet"):
        assert (saved / name).read_bytes() == (run.path / name).read_bytes()
    [found], damaged = list_baselines(tmp_path / "baselines")
    assert damaged == []
    assert (found.name, found.info["run_id"], found.manifest.suite_name) == ("mine", run.path.name, "hand")
    assert locate("mine", tmp_path / "baselines") == saved
    assert locate(str(run.path), tmp_path / "baselines") == run.path


def test_an_existing_name_needs_force_and_force_replaces_it(tmp_path: Path):
    first = make_run(tmp_path, "a", accuracy={"t": [(0.9, 0.88, 0.92)]})
    second = make_run(tmp_path, "b", accuracy={"t": [(0.8, 0.78, 0.82)]})
    save_baseline(first.path, "x", tmp_path / "bl")
    with pytest.raises(HarnessError, match="a baseline named 'x' exists; pass --force to replace it"):
        save_baseline(second.path, "x", tmp_path / "bl")
    save_baseline(second.path, "x", tmp_path / "bl", force=True)
    assert [b.info["run_id"] for b in list_baselines(tmp_path / "bl")[0]] == [second.path.name]
    assert sorted(p.name for p in (tmp_path / "bl").iterdir()) == ["x"]  # no staging or old copies left


@pytest.mark.parametrize("status", ["running", "interrupted", "failed"])
def test_an_unfinished_run_is_refused(tmp_path: Path, status: str):
    writer = RunWriter.create(tmp_path, "hand", {**MANIFEST_KEYS, "suite_name": "hand"})
    if status != "running":
        writer.finish(status)
    with pytest.raises(HarnessError, match=f"the run is '{status}'; only a complete run can be a baseline"):
        save_baseline(writer.run_dir, "x", tmp_path / "bl")
    assert not (tmp_path / "bl" / "x").exists()


def test_bad_names_are_refused(tmp_path: Path):
    run = make_run(tmp_path, "r", accuracy={"t": [(0.9, 0.88, 0.92)]})
    for name in ("../up", "", ".hidden", "a/b"):
        with pytest.raises(HarnessError, match="baseline name"):
            save_baseline(run.path, name, tmp_path / "bl")
