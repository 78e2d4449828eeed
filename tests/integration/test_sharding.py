"""Sharding and merge on a real (tiny) suite: shards partition its models, and merged they equal an unsharded run."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cache import ModelCache, default_cache_dir
from harness.cli import main
from harness.errors import HarnessError
from harness.merge import merge_runs
from harness.plan import Shard
from harness.runner import run_suite
from harness.store import MANIFEST, load_results, read_manifest
from harness.suite import load_suite
from tests.conftest import FIXTURES

#: what identifies a row of a run, whichever process measured it
CELL = ["model", "seed", "device", "threads", "dtype", "scenario", "batch_size", "target_qps", "metric", "status"]


def cells_of(df: pd.DataFrame) -> set[tuple]:
    rows = df[CELL].astype(object).where(df[CELL].notna(), None)
    keys = [tuple(r) for r in rows.itertuples(index=False)]
    assert len(keys) == len(set(keys)), "a cell has two rows"
    return set(keys)


def test_each_shard_measures_its_share_and_records_it(runs: dict[str, Path]):
    models = [sorted(set(load_results(runs[f"shard{i}"])["model"])) for i in (1, 2)]
    assert models == [["scratch-4", "teacher"], ["kd-4", "multi-4"]]  # round robin over the suite's order
    assert [read_manifest(runs[f"shard{i}"]).shard for i in (1, 2)] == [{"index": 1, "count": 2},
                                                                              {"index": 2, "count": 2}]


def test_the_device_matrix_is_in_the_rows(runs: dict[str, Path]):
    df = load_results(runs["whole"])
    timed = df[df["batch_size"].notna()]
    assert set(timed.loc[timed["device"] == "cpu", "threads"]) == {1, 2}
    assert (timed.loc[timed["device"] == "cpu", "status"] != "error").all()
    missing = timed[timed["device"] == "cuda:7"]
    assert set(missing["status"]) == {"skipped"} and missing["error"].str.contains("not available").all()
    assert df.loc[df["batch_size"].isna(), "threads"].isna().all()  # model-level rows are not per thread count


def test_merged_shards_equal_the_unsharded_run(runs: dict[str, Path]):
    whole = cells_of(load_results(runs["whole"]))
    shards = load_results(runs["shard1"], runs["shard2"])
    paired = shards["metric"].isin(["accuracy_gain_vs_baseline", "mcnemar_p_vs_baseline"])
    # a shard cannot pair a student with a baseline another shard measured: it says so, and merge pairs them
    assert cells_of(shards[~paired]) == {c for c in whole if not c[CELL.index("metric")].endswith("_vs_baseline")}
    apart = shards[paired & (shards["status"] == "skipped") & (shards["role"] == "student")]
    assert len(apart) and set(apart["error"]) == {"its baseline is measured in another shard: merge the shards"}
    merged = merge_runs([runs["shard1"], runs["shard2"]], runs["tmp"] / "merged")
    df = load_results(merged.run_dir)
    assert cells_of(df) == whole and df["run_id"].nunique() == 1
    manifest = read_manifest(merged.run_dir)
    assert manifest.status == "complete" and manifest.shard is None
    assert [s["shard"]["index"] for s in manifest.merged_from] == [1, 2]
    samples = load_results(merged.run_dir, samples=True)
    parts = load_results(runs["shard1"], runs["shard2"], samples=True)
    assert len(samples) == len(parts) > 0
    floors = [read_manifest(runs[s]).noise_floor for s in ("shard1", "shard2")]
    assert manifest.noise_floor["pct"] == max(f["pct"] for f in floors)
    assert len(manifest.noise_floor["cells"]) == sum(len(f["cells"]) for f in floors)


def test_every_shard_pairs_its_students_with_the_teacher(runs: dict[str, Path]):
    """A shard without the teacher's job still times the teacher, as the reference of its students' speedups."""
    for shard in ("shard1", "shard2"):
        df = load_results(runs[shard])
        speedups = df[(df["metric"] == "speedup_vs_teacher") & (df["status"] == "ok")]
        assert set(speedups["model"]) == set(df["model"]) and speedups["ci_low"].notna().all()


def test_merge_refuses_doubles_gaps_and_other_suites(runs: dict[str, Path], tmp_path: Path):
    with pytest.raises(HarnessError, match=r"more than one run: scratch-4 \(seed 0\) in \S+shards\S+, \S+whole"):
        merge_runs([runs["shard1"], runs["shard2"], runs["whole"]], tmp_path)
    with pytest.raises(HarnessError, match=r"no run has rows of kd-4 \(seed 0\), multi-4 \(seed 0\)"):
        merge_runs([runs["shard1"]], tmp_path)
    other = tmp_path / "other"
    shutil.copytree(runs["shard2"], other)
    manifest = json.loads((other / MANIFEST).read_text())
    (other / MANIFEST).write_text(json.dumps({**manifest, "suite_hash": "0" * 64}))
    with pytest.raises(HarnessError, match="different suites"):
        merge_runs([runs["shard1"], other], tmp_path)
    assert not list(tmp_path.glob("matrix")), "a refused merge writes nothing"


def test_cli_merge_and_shard_errors(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["merge", str(runs["shard1"]), str(runs["shard2"]), "--out", str(tmp_path)]) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]).parent == tmp_path / "matrix"
    assert main(["merge", str(runs["shard1"]), "--out", str(tmp_path)]) == 2
    assert main(["run", str(FIXTURES / "matrix.yaml"), "--shard", "3/2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 2 and "1 to N" in err.splitlines()[-1]


def test_a_student_learning_from_another_is_built_in_a_shard_without_it(tmp_path: Path):
    """multi-4 reads kd-4's model: a shard that measures multi-4 but not kd-4 still builds kd-4 (not measured)."""
    suite = load_suite(FIXTURES / "matrix.yaml")
    run = run_suite(suite, tmp_path, ModelCache(default_cache_dir()), log=lambda _: None, shard=Shard(2, 3))
    df = load_results(run.run_dir)
    assert set(df["model"]) == {"kd-4"} and (df["status"] != "error").all()
    run = run_suite(suite, tmp_path, ModelCache(default_cache_dir()), log=lambda _: None, shard=Shard(1, 3))
    df = load_results(run.run_dir)
    assert set(df["model"]) == {"teacher", "multi-4"} and (df["status"] != "error").all()


def test_resume_keeps_the_shard(runs: dict[str, Path], tmp_path: Path):
    suite = load_suite(FIXTURES / "matrix.yaml")
    shard1 = tmp_path / "shard1"  # a resume rewrites its run in place: a copy, so the module's runs stay as measured
    shutil.copytree(runs["shard1"], shard1)
    with pytest.raises(HarnessError, match="ran as shard 1/2, not 2/2"):
        run_suite(suite, tmp_path, None, log=lambda _: None, resume=shard1, shard=Shard(2, 2))
    before, floor = len(load_results(shard1)), read_manifest(shard1).noise_floor
    run_suite(suite, tmp_path, None, log=lambda _: None, resume=shard1)
    assert len(load_results(shard1)) == before  # nothing of the other shard was added
    assert floor["pct"] is not None and read_manifest(shard1).noise_floor == floor  # nor timed: the A/A cells kept
