"""Measuring in a fresh process: results come back, user classes load, failures are contained."""

import multiprocessing
import textwrap
import time

import pytest
import torch

from harness.measure.latency import LatencySettings
from harness.measure.paired import measure_alone
from harness.measure.worker import WorkerFailed

FAST = LatencySettings(warmup_iters=1, warmup_seconds=0.0, min_iters=5, max_seconds=0.05)


def test_isolated_measurement_returns_every_batch_size():
    threads, results = measure_alone(torch.nn.Linear(4, 2), (4,), [1, 8], "cpu", 1, FAST)
    assert threads == 1
    assert [r.batch_size for r in results] == [1, 8]
    assert all(r.status == "ok" and r.values["latency_p50_ms"][3] == len(r.samples_ms) >= 3 for r in results)
    # Linear(4, 2): 40 bytes of weights; input 4 floats per sample; output 2 floats per sample
    assert [r.values["peak_memory_bytes"][0] for r in results] == [40 + 16 + 8, 40 + 128 + 64]
    for r in results:
        value, low, high, n = r.values["latency_p50_ms"]
        assert low <= value <= high
        assert r.values["latency_p50_ms"][0] <= r.values["latency_p95_ms"][0] <= r.values["latency_p99_ms"][0]
        assert r.values["rss_peak_bytes"][0] > 0 and r.values["rss_weights_bytes"][0] >= 0
        # absent on a CPU, each with its reason, never 0
        assert r.absent["gpu_util_pct"] == ("skipped", "GPU telemetry applies to cuda devices, not cpu")
        assert r.absent["cuda_peak_allocated_bytes"][0] == "skipped"
        assert not set(r.values) & set(r.absent)


def test_a_model_class_from_a_folder_added_after_the_server_started(tmp_path, monkeypatch):
    measure_alone(torch.nn.Linear(2, 2), (2,), [1], "cpu", 1, FAST)  # the fork server is up now
    (tmp_path / "late_user_module.py").write_text(textwrap.dedent("""
        import torch
        class Doubler(torch.nn.Module):
            def forward(self, x):
                return x * 2
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from late_user_module import Doubler  # type: ignore[import-not-found]

    _, results = measure_alone(Doubler(), (3,), [2], "cpu", 1, FAST)
    assert results[0].status == "ok", results[0].error


def test_a_failing_batch_size_is_recorded_and_the_sweep_goes_on():
    class Picky(torch.nn.Module):
        def forward(self, x):
            if len(x) == 2:
                raise RuntimeError("cannot do two")
            return x

    _, results = measure_alone(Picky(), (3,), [1, 2, 4], "cpu", 1, FAST, isolated=False)
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert results[1].error == "RuntimeError: cannot do two"


class Crasher(torch.nn.Module):
    """Kills its own process on the first forward, as a segfault or the OOM killer would."""

    def forward(self, x):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class Sleeper(torch.nn.Module):
    def forward(self, x):
        import time

        time.sleep(60)
        return x


def test_a_crashed_worker_is_an_error_not_a_crash():
    _, [result] = measure_alone(Crasher(), (2,), [1], "cpu", 1, FAST)
    assert (result.status, result.error) == ("error", "measurement process failed: the measuring process died "
                                                      "(exit code -9)")


def test_a_worker_past_its_timeout_is_killed():
    started = time.perf_counter()
    _, [result] = measure_alone(Sleeper(), (2,), [1], "cpu", 1, FAST, timeout=1.0)
    assert result.status == "error" and "timed out after 1 s (measure.timeout_seconds)" in result.error
    assert time.perf_counter() - started < 30
    assert multiprocessing.active_children() == []


def test_a_contestant_that_cannot_start_raises_worker_failed():
    from harness.measure.session import CellRequest
    from harness.measure.worker import Contestant

    contestant = Contestant("bad", ("pickle", b"not a pickle"), CellRequest((2,), (1,), settings=FAST))
    with pytest.raises(WorkerFailed, match="UnpicklingError"):
        contestant.start()
    contestant.close()
