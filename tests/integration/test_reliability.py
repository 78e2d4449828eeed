"""A failure anywhere costs nothing already done: failing cells, Ctrl-C, SIGKILL and resume, concurrency."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.metrics import METRICS
from harness.store import load_results, read_manifest
from tests.conftest import FIXTURES, ROOT
from tests.integration.test_end_to_end import SKIPPED_FOR_TEACHER, SKIPPED_HERE

KEY = ["model", "seed", "device", "dtype", "batch_size", "metric"]


def _cells_once(df: pd.DataFrame) -> bool:
    return not df.duplicated(subset=KEY).any()


def _expected_rows(models: int, batch_sizes: int, devices: int = 1) -> int:
    per_model = sum(1 for _, m in METRICS.items() if not m.per_batch_size)
    per_batch = sum(1 for _, m in METRICS.items() if "single_stream" in m.scenarios)  # the default scenario
    return models * (per_model + per_batch * batch_sizes * devices)


def test_failing_cells_are_rows_and_the_run_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    started = time.perf_counter()
    code = main(["run", str(FIXTURES / "failing_suite.yaml"), "--out", str(tmp_path), "--no-report"])
    out, err = capsys.readouterr()
    assert code == 1
    assert time.perf_counter() - started < 120, "the hanging measurement was killed at its timeout"
    run_dir = Path(out.strip().splitlines()[-1])
    df = load_results(run_dir)
    assert len(df) == _expected_rows(models=5, batch_sizes=2) and _cells_once(df)

    def status(model: str) -> dict[str, str]:
        rows = df[(df["model"] == model) & ~df["metric"].isin(SKIPPED_HERE | SKIPPED_FOR_TEACHER)]
        return dict(zip(rows["metric"] + "@" + rows["batch_size"].astype(str), rows["status"], strict=True))

    assert set(status("fine").values()) == {"ok"} and set(status("teacher").values()) == {"ok"}
    diverged = df[df["model"] == "diverges"]
    assert set(diverged["status"]) == {"error"}
    assert set(diverged["error"]) == {"build failed: FloatingPointError: loss became nan at epoch 1"}
    for model, reason in (("crashes", "died (exit code -9)"), ("hangs", "timed out after 3 s")):
        rows = df[(df["model"] == model) & df["batch_size"].notna() & df["metric"].str.startswith("latency")]
        assert set(rows["status"]) == {"error"} and rows["error"].str.contains(reason, regex=False).all(), model
        quality = df[(df["model"] == model) & (df["metric"] == "accuracy")]
        assert quality["status"].tolist() == ["ok"], "what was measured before the crash is kept"
    manifest = read_manifest(run_dir)
    assert manifest.status == "complete_with_errors" and manifest.failed_models == 3
    assert "3 models with failed measurements" in out
    assert f"{manifest.failed_rows} measurements failed" in err


def _start(suite: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), "--no-report",
                             *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _slow_suite(tmp_path: Path) -> Path:
    """Five models whose measurement takes about a second each, so a run can be stopped part way."""
    text = (FIXTURES / "tiny.yaml").read_text().replace("max_seconds: 0.05", "max_seconds: 0.4, target_ci: 0.0001")
    text = text.replace("seeds: [0]", "seeds: [0, 1, 2, 3]")
    path = tmp_path / "slow.yaml"
    path.write_text(text)
    return path


def _wait_for_rows(run_root: Path, at_least: int, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in run_root.rglob("measurements.parquet"):
            # the bytes first, in one read: the run replaces the file as it goes (os.replace), and
            # pd.read_parquet(path) can see two versions of it in one read ("Page was smaller than expected")
            df = pd.read_parquet(io.BytesIO(table.read_bytes()))
            if df.groupby(["model", "seed"]).ngroups >= at_least:
                return table.parent
        time.sleep(0.1)
    raise AssertionError("the run wrote no rows in time")


def test_sigkill_part_way_then_resume_measures_each_cell_exactly_once(tmp_path: Path):
    suite = _slow_suite(tmp_path)
    process = _start(suite, tmp_path / "results")
    run_dir = _wait_for_rows(tmp_path / "results", at_least=2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    before = load_results(run_dir)
    kept = before.groupby(["model", "seed"]).ngroups
    assert 2 <= kept < 5, "killed part way"
    assert read_manifest(run_dir).status == "running", "a SIGKILL leaves no chance to write more"

    resumed = _start(suite, tmp_path / "results", "--resume", str(run_dir))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert out.strip().splitlines()[-1] == str(run_dir)
    assert f"resuming: {kept} models already measured are kept" in err
    after = load_results(run_dir)
    assert len(after) == _expected_rows(models=5, batch_sizes=2) and _cells_once(after)
    assert sorted(after.groupby(["model", "seed"]).groups) == sorted(
        [("teacher", 0)] + [("kd-4", s) for s in range(4)])
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)  # what was written is untouched
    samples = load_results(run_dir, samples=True)
    assert not samples.duplicated(subset=["model", "seed", "device", "batch_size", "iteration"]).any()
    assert read_manifest(run_dir).status == "complete"


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path):
    suite = _slow_suite(tmp_path)
    process = _start(suite, tmp_path / "results")
    run_dir = _wait_for_rows(tmp_path / "results", at_least=1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert out.strip().splitlines()[-1] == str(run_dir)
    assert f"--resume {run_dir}" in err
    assert read_manifest(run_dir).status == "interrupted"
    assert _cells_once(load_results(run_dir))


def test_resume_refuses_a_different_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp_path), "--no-report"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    other = tmp_path / "other.yaml"
    other.write_text((FIXTURES / "tiny.yaml").read_text().replace("temperature: 4.0", "temperature: 2.0"))
    assert main(["run", str(other), "--resume", str(run_dir)]) == 2
    assert "made by a different suite" in capsys.readouterr().err


def test_two_runs_at_once_under_one_results_directory(tmp_path: Path):
    env_cache = {"HARNESS_CACHE_DIR": str(tmp_path / "shared-cache")}
    processes = []
    for _ in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), **env_cache}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp_path / "r"),
             "--no-report"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [e for _, e in outputs]
    run_dirs = {Path(out.strip().splitlines()[-1]) for out, _ in outputs}
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        df = load_results(run_dir)
        assert len(df) == _expected_rows(models=2, batch_sizes=2) and _cells_once(df)
    both = load_results(tmp_path / "r")
    assert both["run_id"].nunique() == 2
