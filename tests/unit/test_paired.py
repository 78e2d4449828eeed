"""Paired rounds: order, pairing, speedup, the A/A twin, failures, GPU windows and the rounds' intervals."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from harness.measure import paired
from harness.measure.gpu import GpuSampler
from harness.measure.latency import LatencySettings
from harness.measure.paired import InProcess, measure_group, play
from harness.measure.session import CellRequest
from harness.measure.stats import bootstrap_median_ci, paired_ratio, round_interval, round_medians
from tests.unit.test_gpu import FakeClock, FakeNVML

FAST = LatencySettings(warmup_iters=1, warmup_seconds=0.0, min_iters=5, max_seconds=0.05, round_seconds=0.002,
                       min_rounds=4, rewarm_seconds=0.0, settle_block=0)


class Busy(torch.nn.Module):
    """A forward that busy-waits ``microseconds`` per sample row: a known, load-independent cost ratio."""

    def __init__(self, microseconds: float):
        super().__init__()
        self.seconds = microseconds / 1e6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return x


def request(*batch_sizes: int, settings: LatencySettings = FAST) -> CellRequest:
    return CellRequest((2,), batch_sizes, "cpu", 1, settings)


def in_process(models: dict[str, torch.nn.Module], req: CellRequest, reference: str | None = "teacher",
               **session) -> paired.GroupResult:
    return play([InProcess(label, model, req, **session) for label, model in models.items()], req, reference)


def test_every_round_times_every_model_once_in_a_seeded_random_order():
    req = request(1, 4)
    models = {"teacher": torch.nn.Identity(), "a": torch.nn.Identity(), "b": torch.nn.Identity()}
    first = in_process(models, req)
    for batch_size in (0, 1):
        results = {label: res[batch_size] for label, (_, res) in first.results.items()}
        rounds = {label: sorted(set(r.rounds)) for label, r in results.items()}
        assert len({tuple(v) for v in rounds.values()}) == 1 and len(rounds["a"]) >= FAST.min_rounds
        for r in rounds["a"]:  # in each round the three models hold the places 0, 1, 2, each once
            assert sorted(res.slots[res.rounds.index(r)] for res in results.values()) == [0, 1, 2]
    again = in_process(models, req)  # the same seed draws the same orders (over the rounds both runs had)
    assert _orders(first) == _orders(again)


def _orders(group: paired.GroupResult, rounds: int = FAST.min_rounds) -> list[list[int]]:
    """Each model's place in each of the first ``rounds`` rounds, per batch size."""
    return [[res.slots[res.rounds.index(r)] for r in range(rounds)] for _, results in group.results.values()
            for res in results]


def test_the_order_seed_changes_the_orders():
    models = {"teacher": torch.nn.Identity(), "a": torch.nn.Identity(), "b": torch.nn.Identity()}
    orders = []
    for seed in (0, 1):
        settings = LatencySettings(**{**FAST.__dict__, "order_seed": seed, "min_rounds": 12, "max_seconds": 10})
        group = in_process(models, request(1, settings=settings))
        orders.append(_orders(group, 12))
    assert orders[0] != orders[1]


def test_a_sessions_process_runs_on_the_last_cpus_while_it_lasts():
    import os

    from harness.measure.session import pinned_to_shared_cpus

    before = os.sched_getaffinity(0)
    with pinned_to_shared_cpus(1) as cpus:
        assert cpus == [max(before)] and os.sched_getaffinity(0) == {max(before)}
    assert os.sched_getaffinity(0) == before
    with pinned_to_shared_cpus(None) as cpus:
        assert set(cpus) == before == os.sched_getaffinity(0)


def test_speedup_is_the_teachers_p50_over_the_models_with_an_interval_and_the_teacher_is_one():
    settings = LatencySettings(**{**FAST.__dict__, "round_seconds": 0.01, "min_rounds": 6, "max_seconds": 1.0})
    group = in_process({"teacher": Busy(400), "half": Busy(200)}, request(1, settings=settings))
    teacher, half = group.results["teacher"][1][0], group.results["half"][1][0]
    assert teacher.values["speedup_vs_teacher"][:3] == (1.0, 1.0, 1.0)
    value, low, high, rounds = half.values["speedup_vs_teacher"]
    windows = [[np.array([s for s, r in zip(res.samples_ms, res.rounds, strict=True) if r == k])
                for k in sorted(set(res.rounds))] for res in (teacher, half)]
    assert value == paired_ratio(*windows)  # round by round: each round's teacher median over the model's
    assert value == pytest.approx(teacher.values["latency_p50_ms"][0] / half.values["latency_p50_ms"][0], rel=0.05)
    assert low <= value <= high and rounds == len(set(half.rounds)) >= 6
    assert value == pytest.approx(2.0, rel=0.15)  # busy-waits of 400 and 200 us


def test_without_a_teacher_in_the_cell_the_speedup_is_absent_with_the_reason():
    group = in_process({"a": torch.nn.Identity()}, request(1), reference=None)
    assert group.results["a"][1][0].absent["speedup_vs_teacher"] == ("skipped", "the teacher is not timed in this cell")


def test_the_twin_gives_an_aa_ratio_per_batch_size_that_covers_one_for_identical_work():
    settings = LatencySettings(**{**FAST.__dict__, "round_seconds": 0.01, "min_rounds": 8, "max_seconds": 1.0})
    req = request(1, 2, settings=settings)
    group = measure_group(req, {"teacher": Busy(300), "student": Busy(100)}, "teacher", twin=True)
    assert set(group.results) == {"teacher", "student", "teacher~aa"}
    assert [n["batch_size"] for n in group.noise] == [1, 2]
    for entry in group.noise:
        assert entry["ci_low"] <= entry["ratio"] <= entry["ci_high"]
        assert entry["ratio"] == pytest.approx(1.0, abs=0.1) and entry["rounds"] >= 8
        assert len(entry["log_ratios"]) == entry["rounds"]
    log = paired.NoiseFloorLog(True, min_rounds=8)
    log.add({"device": "cpu"}, group.noise)
    floor = log.summary()
    assert floor is not None and "log_ratios" not in floor["cells"][0]
    # the floor by hand: every A/A round pooled, 1.4826 x MAD of the log ratios, over sqrt(min_rounds): the design's
    # rounds, not the rounds the budget gave (which vary from run to run)
    logs = np.concatenate([e["log_ratios"] for e in group.noise])
    center = np.median(logs)
    half = 1.959964 * 1.2533141 * 1.4826022 * np.median(np.abs(logs - center)) / math.sqrt(8)
    assert floor["pct"] == pytest.approx(100 * (math.exp(abs(center) + half) - 1), abs=2e-3)
    assert floor["pooled_rounds"] == logs.size and floor["rounds"] == 8


def test_a_batch_size_that_fails_in_one_model_leaves_the_others_paired():
    class Picky(torch.nn.Module):
        def forward(self, x):
            if len(x) == 2:
                raise RuntimeError("cannot do two")
            return x

    group = in_process({"teacher": torch.nn.Identity(), "picky": Picky()}, request(1, 2))
    picky = group.results["picky"][1]
    assert [r.status for r in picky] == ["ok", "error"] and picky[1].error == "RuntimeError: cannot do two"
    assert "speedup_vs_teacher" in picky[0].values
    assert group.results["teacher"][1][1].status == "ok"


class Crasher(torch.nn.Module):
    """Kills its own process at batch size 4, as a segfault or the OOM killer would."""

    def forward(self, x):
        import os
        import signal

        if len(x) == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return x


def test_a_process_that_dies_is_an_error_of_its_model_only():
    group = measure_group(request(1, 4), {"teacher": torch.nn.Identity(), "crasher": Crasher()}, "teacher")
    crashed = group.results["crasher"][1]
    assert crashed[1].status == "error" and "died (exit code -9)" in crashed[1].error
    assert [r.status for _, res in [group.results["teacher"]] for r in res] == ["ok", "ok"]


def test_gpu_telemetry_is_taken_per_window_and_summed_per_model():
    """The cuda path's NVML windows, driven by the fake NVML: each model's energy is exactly the sum over its
    own windows (the counter rises 1000 mJ per window for the teacher and 250 for the student)."""

    class Counting(FakeNVML):
        def __init__(self, step_mj: int):
            super().__init__(FakeClock())
            self.step, self.energy = step_mj, 0

        def nvmlDeviceGetTotalEnergyConsumption(self, handle):
            self.energy += self.step  # read at a window's entry and exit: each window adds ``step``
            return self.energy

    counters = {"teacher": Counting(1000), "student": Counting(250)}
    players = [InProcess(label, torch.nn.Identity(), request(4), gpu_reason="",
                         sampler=lambda device, n=nvml: GpuSampler(0, period_s=0.01, nvml=n, clock=n.clock))
               for label, nvml in counters.items()]
    group = play(players, request(4), "teacher")
    for label, joules_per_window in (("teacher", 1.0), ("student", 0.25)):
        result = group.results[label][1][0]
        windows = len(set(result.rounds))
        items = len(result.samples_ms) * 4
        assert result.values["energy_j_per_sample"][0] == pytest.approx(windows * joules_per_window / items)
        assert result.values["gpu_util_pct"][0] == 42.0


# --- the rounds' intervals -----------------------------------------------------------------------------------


def test_the_rounds_interval_is_the_order_statistic_interval_of_the_round_values():
    rounds = [np.arange(5.0) + r for r in range(9)]  # round medians 2, 3, ..., 10
    assert round_interval(round_medians(rounds)) == (3.0, 9.0)  # 9 values: ranks 2 and 8 (coverage 96.1%)
    ratios = round_medians(rounds) / round_medians([r * 2 for r in rounds])
    assert round_interval(ratios) == (0.5, 0.5)


def _typical_window_median(shift: float, share: float, sigma: float, n: int) -> float:
    """The exact median of a window's median, for windows of ``n`` (odd) lognormal(0, sigma) samples that are
    ``shift`` times slower ``share`` of the time: the window median is the (n+1)/2-th order statistic, whose
    CDF is a binomial tail of the samples' CDF (scipy), mixed over the phases and solved for one half."""
    half = (n - 1) // 2

    def cdf(x: float) -> float:
        fast = stats.binom.sf(half, n, stats.lognorm.cdf(x, sigma))
        slow = stats.binom.sf(half, n, stats.lognorm.cdf(x / shift, sigma))
        return (1 - share) * fast + share * slow - 0.5

    return float(optimize.brentq(cdf, 0.5, 2.0))


def test_the_rounds_interval_covers_a_machine_with_slow_phases_and_the_samples_interval_does_not():
    """Known injected slow phases: each round, with probability 0.3, the machine is 1.5x slower for the whole
    window (a phase lasts longer than a window). The target, the typical window's median over the machine's
    phases, is exact from scipy. Over 400 simulated cells of 12 rounds x 201 samples, the order-statistic interval
    over rounds covers it at least as often as it claims (98.1% exactly, for 12 independent rounds); the bootstrap
    over samples, which takes a window's samples
    as independent (and estimates the pooled median, which the slow rounds drag up), does not."""
    rng = np.random.default_rng(7)
    truth = _typical_window_median(1.5, 0.3, 0.05, 201)
    covered = {"rounds": 0, "samples": 0}
    runs = 400
    for run in range(runs):
        rounds = [np.exp(rng.normal(0, 0.05, 201)) * (1.5 if rng.random() < 0.3 else 1.0) for _ in range(12)]
        low, high = round_interval(round_medians(rounds))
        covered["rounds"] += low <= truth <= high
        low, high = bootstrap_median_ci(np.concatenate(rounds), resamples=500, seed=run)
        covered["samples"] += low <= truth <= high
    assert covered["rounds"] / runs >= 0.95, covered
    assert covered["samples"] / runs <= 0.6, covered


def test_relative_half_width_ignores_one_slow_round():
    steady = _track([np.full(10, 1.0 + 0.001 * r) for r in range(8)])
    one_slow = _track(steady.windows[:-1] + [np.full(10, 1.5)])
    assert one_slow.relative_half_width() < 2 * steady.relative_half_width() < 0.01
    assert math.isinf(_track([np.ones(3)]).relative_half_width())


def _track(windows: list[np.ndarray]) -> paired.Track:
    track = paired.Track()
    for slot, window in enumerate(windows):
        track.add(window, slot)
    return track
