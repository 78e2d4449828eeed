"""A failure anywhere costs nothing already done: failing cells, Ctrl-C, SIGKILL and resume, concurrency."""

import os
import re
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


class Progress:
    """A run's stderr, read line by line as it comes by a thread: a test acts on a progress line the moment it is
    printed. Polling the results folder for rows was too slow under load: a run writes its models' rows within
    about 3 s of each other at the end of the measure phase, and a loaded machine's poll (a parquet read) could
    see the first rows only once the run had finished (a Ctrl-C test then read exit 0, not 130)."""

    def __init__(self, process: subprocess.Popen[str]):
        import queue
        import threading

        self.process, self.lines, self._queue = process, list[str](), queue.Queue[str | None]()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_rows(self, at_least: int, timeout: float = 120) -> Path:
        """Block until ``at_least`` models' rows are written (their progress lines); the run's directory."""
        import queue

        deadline, run_dir, written = time.monotonic() + timeout, None, 0
        while written < at_least:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("the run wrote no rows in time:\n" + "".join(self.lines)) from None
            if line is None:
                raise AssertionError("the run ended first:\n" + "".join(self.lines))
            self.lines.append(line)
            if found := re.match(r"\[\s*[\d.]+s\] run \S+: (.+)$", line.strip()):
                run_dir = Path(found.group(1))
            written += bool(re.search(r"\(seed \d+\): \d+ rows$", line.strip()))
        assert run_dir is not None
        return run_dir

    def finish(self, timeout: float = 60) -> tuple[str, str]:
        """Wait for the process to end: (stdout, all of stderr)."""
        self.process.wait(timeout=timeout)
        self._thread.join(timeout=timeout)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        assert self.process.stdout is not None
        return self.process.stdout.read(), "".join(self.lines)


def test_sigkill_part_way_then_resume_measures_each_cell_exactly_once(tmp_path: Path):
    suite = _slow_suite(tmp_path)
    process = _start(suite, tmp_path / "results")
    run_dir = Progress(process).wait_for_rows(at_least=2)
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
    progress = Progress(process)
    run_dir = progress.wait_for_rows(at_least=1)
    process.send_signal(signal.SIGINT)
    out, err = progress.finish(timeout=60)
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
