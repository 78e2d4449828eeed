"""Interleaved rounds: round-robin order, per-key stopping, one failing key does not stop the others."""

import time

import pytest
import torch
from torch import nn

from harness.measure.latency import LatencySettings
from harness.measure.rounds import measure_interleaved

NO_WARMUP = {"warmup_iters": 0, "warmup_seconds": 0.0}


class Recorder(nn.Module):
    """Logs the batch size of each forward; fails on one batch size when asked."""

    def __init__(self, fail_on: int | None = None):
        super().__init__()
        self.calls: list[int] = []
        self.fail_on = fail_on

    def forward(self, x):
        if len(x) == self.fail_on:
            raise RuntimeError("out of memory")
        self.calls.append(len(x))
        return x


def _runs(calls: list[int]) -> list[int]:
    """Collapse consecutive equal entries: the order in which batch sizes took turns."""
    return [c for i, c in enumerate(calls) if i == 0 or calls[i - 1] != c]


def test_batch_sizes_take_turns_for_at_least_min_rounds():
    model = Recorder()
    examples = {b: torch.zeros(b, 2) for b in (1, 2, 4)}
    settings = LatencySettings(min_iters=3, max_seconds=5.0, target_ci=1e9, **NO_WARMUP)
    samples, failed = measure_interleaved(model, examples, settings, min_rounds=3, round_seconds=0.002)
    assert failed == {}
    assert _runs(model.calls) == [1, 2, 4] * 3  # three rounds each, round-robin, then all are tight
    assert all(len(samples[b]) >= 3 for b in examples)
    assert sum(len(s) for s in samples.values()) == len(model.calls)


def test_a_key_stops_at_max_seconds_when_never_tight():
    model = Recorder()
    settings = LatencySettings(min_iters=10**9, max_seconds=0.2, target_ci=0.0, **NO_WARMUP)
    started = time.perf_counter()
    samples, _ = measure_interleaved(model, {1: torch.zeros(1, 2), 2: torch.zeros(2, 2)}, settings,
                                     round_seconds=0.02)
    elapsed = time.perf_counter() - started
    assert 2 * 0.2 <= elapsed < 2 * 0.2 + 1.0  # each key timed for max_seconds, then stopped
    assert len(_runs(model.calls)) >= 2 * 10  # about 0.2 / 0.02 rounds each, taking turns


def test_one_failing_key_is_reported_and_the_others_finish():
    model = Recorder(fail_on=2)
    settings = LatencySettings(min_iters=3, max_seconds=5.0, target_ci=1e9, **NO_WARMUP)
    samples, failed = measure_interleaved(model, {b: torch.zeros(b, 2) for b in (1, 2, 4)}, settings,
                                          round_seconds=0.002)
    assert sorted(samples) == [1, 4] and list(failed) == [2]
    assert str(failed[2]) == "out of memory"


def test_the_first_round_of_each_key_warms_up():
    model = Recorder()
    settings = LatencySettings(warmup_iters=7, warmup_seconds=0.0, settle_block=0, min_iters=3, max_seconds=5.0,
                               target_ci=1e9)
    samples, _ = measure_interleaved(model, {1: torch.zeros(1, 2)}, settings, min_rounds=3, round_seconds=0.002)
    assert len(model.calls) == 7 + len(samples[1])


@pytest.mark.parametrize("min_rounds", [1, 5])
def test_min_rounds_is_respected(min_rounds: int):
    model = Recorder()
    settings = LatencySettings(min_iters=1, max_seconds=5.0, target_ci=1e9, **NO_WARMUP)
    measure_interleaved(model, {1: torch.zeros(1, 2), 3: torch.zeros(3, 2)}, settings, min_rounds=min_rounds,
                        round_seconds=0.001)
    assert _runs(model.calls) == [1, 3] * min_rounds
