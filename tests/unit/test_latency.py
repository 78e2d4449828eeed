"""Latency statistics pinned on fixed samples; timing loop bounds; the thread and seed context managers."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch
from scipy import stats as sp
from torch import nn

from harness.measure import stats
from harness.measure.latency import (
    LatencySettings,
    bootstrap_median_ci,
    measure_latency,
    median_ci,
    prepare_example,
    summarize,
    time_forward,
)
from harness.measure.stats import coverage
from harness.measure.threads import seeded, torch_threads

NO_WARMUP = dict(warmup_seconds=0.0, warmup_iters=0)


class Sleeper(nn.Module):
    """A model whose forward takes at least ``seconds``: slow without burning a core."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return x


# --- median_ci -------------------------------------------------------------


def _exact_rank(n: int, confidence: float = 0.95) -> int:
    """The largest j with P(j <= B <= n - j) >= confidence, B ~ Binomial(n, 1/2), by trying every j (scipy); 1
    when none reaches it."""
    good = [j for j in range(1, n // 2 + 1) if sp.binom.cdf(n - j, n, 0.5) - sp.binom.cdf(j - 1, n, 0.5)
            >= confidence]
    return max(good, default=1)


@pytest.mark.parametrize("n", [3, 5, 6, 8, 9, 12, 20, 30, 40, 101, 1000])
def test_median_ci_takes_the_exact_binomial_ranks(n: int):
    j = _exact_rank(n)
    assert median_ci(np.arange(1, n + 1)) == (float(j), float(n + 1 - j))
    assert coverage(n) == pytest.approx(sp.binom.cdf(n - j, n, 0.5) - sp.binom.cdf(j - 1, n, 0.5))
    assert coverage(n) >= (0.95 if n >= 6 else 1 - 2.0 ** (1 - n)) - 1e-12


def test_median_ci_ignores_order_and_is_symmetric_in_rank():
    values = np.arange(1, 102)[::-1].copy()
    np.random.default_rng(0).shuffle(values)
    assert median_ci(values) == median_ci(np.arange(1, 102)) == (41.0, 61.0)  # j = 41: 1 - 2 P(B <= 40) = 0.9554


def test_median_ci_clamps_small_samples_to_min_and_max():
    assert median_ci([5.0, 1.0, 3.0]) == (1.0, 5.0)
    assert median_ci([2.5]) == (2.5, 2.5)


def test_median_ci_wider_at_higher_confidence():
    low90, high90 = median_ci(np.arange(1, 102), confidence=0.90)
    assert (low90, high90) == (42.0, 60.0)  # z=1.644854: 8.2652 -> floor(42.23), ceil(59.77)


def test_median_ci_rejects_empty_and_bad_confidence():
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0], confidence=1.0)


# --- bootstrap_median_ci ---------------------------------------------------


def test_bootstrap_median_ci_is_pinned_for_seed_zero():
    assert bootstrap_median_ci(np.arange(1.0, 12.0)) == (3.0, 9.0)
    assert bootstrap_median_ci(np.arange(1, 102)) == (41.0, 61.0)
    assert bootstrap_median_ci(np.arange(1, 31)) == (10.0, 20.5)  # even n: mean of two order statistics
    # 10 replicates: the 2.5/97.5 percentiles interpolate between replicate medians
    assert bootstrap_median_ci(np.arange(1, 31), resamples=10) == (12.1125, 17.9375)


def test_bootstrap_median_ci_is_reproducible_and_ignores_order():
    values = np.random.default_rng(3).lognormal(size=201)
    shuffled = values[::-1].copy()
    assert bootstrap_median_ci(values, seed=7) == bootstrap_median_ci(shuffled, seed=7)
    low, high = bootstrap_median_ci(values)
    assert low <= float(np.median(values)) <= high
    assert bootstrap_median_ci(values, confidence=0.5) != (low, high)


def test_bootstrap_median_ci_degenerate_samples():
    assert bootstrap_median_ci([2.5]) == (2.5, 2.5)
    assert bootstrap_median_ci([1.0, 3.0]) == (1.0, 3.0)
    with pytest.raises(ValueError):
        bootstrap_median_ci([])
    with pytest.raises(ValueError):
        bootstrap_median_ci([1.0], resamples=0)


@pytest.mark.parametrize("n", [31, 40])
def test_bootstrap_replicates_match_resampling(n):
    # The Beta shortcut must give the same replicate distribution as drawing n indices with
    # replacement. Both sides use fixed seeds, so this comparison is deterministic.
    values = np.sort(np.random.default_rng(n).lognormal(size=n))
    rng = np.random.default_rng(1)
    naive = np.median(values[rng.integers(0, n, size=(20000, n))], axis=1)
    naive_low, naive_high = np.percentile(naive, [2.5, 97.5])
    low, high = bootstrap_median_ci(values, resamples=20000)
    ranks = np.searchsorted(values, [low, naive_low, high, naive_high])
    assert abs(ranks[0] - ranks[1]) <= 1 and abs(ranks[2] - ranks[3]) <= 1


# --- summarize -------------------------------------------------------------


def test_summarize_pins_every_field():
    samples = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0])
    stats = summarize(samples, batch_size=4)
    # linear percentiles over 11 points: rank = q/100 * 10, so p90 -> 19.0, p99 -> 19.9, p25 -> 12.5, p75 -> 17.5
    assert stats.n == 11
    assert stats.p50_ms == 15.0
    assert stats.p90_ms == 19.0
    assert stats.p99_ms == pytest.approx(19.9, abs=1e-12)
    assert stats.mean_ms == 15.0
    assert stats.std_ms == pytest.approx(np.sqrt(11.0), abs=1e-12)  # sum of squares 110, ddof=1 -> 110/10
    # n=11: z*sqrt(11)/2 = 3.2502; j = floor(2.2498) = 2, k = ceil(9.7502) = 10 -> x(2)=11, x(10)=19
    assert (stats.ci_low_ms, stats.ci_high_ms) == (11.0, 19.0)
    assert stats.iqr_over_median == pytest.approx(5.0 / 15.0, abs=1e-12)
    assert stats.noisy is True
    assert stats.throughput_sps == pytest.approx(4 * 1000.0 / 15.0, abs=1e-9)
    assert stats.p95_ms == 19.5  # rank 9.5 -> halfway between 19 and 20
    assert (stats.boot_low_ms, stats.boot_high_ms) == bootstrap_median_ci(samples) == (12.0, 18.0)


def test_summarize_quiet_samples_are_not_noisy():
    samples = [100.0, 101.0, 102.0, 103.0, 104.0]  # IQR = 103 - 101 = 2, median 102 -> 0.0196
    stats = summarize(samples, batch_size=1)
    assert stats.iqr_over_median == pytest.approx(2.0 / 102.0, abs=1e-12)
    assert stats.noisy is False
    assert stats.throughput_sps == pytest.approx(1000.0 / 102.0, abs=1e-12)


def test_summarize_noise_threshold_is_strictly_above_ten_percent():
    assert summarize([9.5, 10.0, 10.5], batch_size=1).noisy is False  # IQR 0.5 / 10 = 0.05
    assert summarize([9.0, 10.0, 11.5], batch_size=1).noisy is True  # IQR 1.25 / 10 = 0.125


def test_summarize_single_sample_has_zero_std():
    stats = summarize([2.0], batch_size=8)
    assert (stats.n, stats.std_ms, stats.ci_low_ms, stats.ci_high_ms) == (1, 0.0, 2.0, 2.0)
    assert stats.throughput_sps == 4000.0


# --- time_forward ----------------------------------------------------------


def test_time_forward_returns_float64_ms_and_at_least_min_iters():
    model = nn.Linear(8, 4).eval()
    samples = time_forward(model, torch.randn(2, 8), LatencySettings(min_iters=20, max_seconds=3.0, target_ci=10.0))
    assert samples.dtype == np.float64 and samples.ndim == 1
    assert len(samples) >= 20
    assert np.all(samples > 0) and np.all(samples < 1000.0)


def test_time_forward_stops_at_min_iters_when_ci_is_already_tight():
    # target_ci=10 holds unless the 22nd of 30 samples exceeds 20x the median: the first check stops it.
    model = nn.Linear(8, 4).eval()
    started = time.perf_counter()
    samples = time_forward(model, torch.randn(2, 8), LatencySettings(min_iters=30, max_seconds=30.0, target_ci=10.0))
    assert len(samples) == 30
    assert time.perf_counter() - started < 10.0


def test_time_forward_stops_by_max_seconds_on_a_slow_model():
    settings = LatencySettings(min_iters=1000, max_seconds=0.3, target_ci=0.0, **NO_WARMUP)
    started = time.perf_counter()
    samples = time_forward(Sleeper(0.02), torch.zeros(1), settings)
    elapsed = time.perf_counter() - started
    assert elapsed < settings.max_seconds + 1.0
    assert 3 <= len(samples) < 1000
    assert samples.min() >= 20.0  # each sample covers one whole forward (>= the 20 ms sleep)


def test_time_forward_takes_three_samples_even_past_max_seconds():
    settings = LatencySettings(min_iters=30, max_seconds=0.01, **NO_WARMUP)
    assert len(time_forward(Sleeper(0.03), torch.zeros(1), settings)) == 3


def test_time_forward_checks_the_ci_only_now_and_then(monkeypatch):
    calls = []

    def counting_median_ci(samples, confidence=0.95):
        calls.append(len(samples))
        return median_ci(samples, confidence)

    monkeypatch.setattr(stats, "median_ci", counting_median_ci)  # the stopping rule calls it
    settings = LatencySettings(min_iters=10, max_seconds=0.3, target_ci=0.0, **NO_WARMUP)
    samples = time_forward(nn.Linear(4, 4), torch.randn(1, 4), settings)
    assert calls[0] == 10
    assert all(later >= max(earlier * 1.25, earlier + 16) for earlier, later in zip(calls, calls[1:], strict=False))
    assert len(calls) <= 1 + (len(samples) - 10) // 16


def test_time_forward_warms_up_at_least_warmup_iters():
    class Counter(nn.Module):
        calls = 0

        def forward(self, x):
            Counter.calls += 1
            return x

    settings = LatencySettings(warmup_iters=7, warmup_seconds=0.0, min_iters=5, target_ci=10.0, settle_block=0)
    time_forward(Counter(), torch.zeros(1), settings)
    assert Counter.calls == 7 + 5


def test_time_forward_runs_under_inference_mode():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(torch.is_inference_mode_enabled())
            return x

    time_forward(Probe(), torch.zeros(1), LatencySettings(min_iters=3, target_ci=10.0, **NO_WARMUP))
    assert seen and all(seen)


# --- warm-up until timings settle ------------------------------------------


class SlowStart(nn.Module):
    """Sleeps ``slow`` s on its first ``slow_calls`` calls and ``fast`` s after; remembers each call's index."""

    def __init__(self, slow_calls: int, slow: float = 0.02, fast: float = 0.002):
        super().__init__()
        self.slow_calls, self.slow, self.fast = slow_calls, slow, fast
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.slow if self.calls < self.slow_calls else self.fast)
        self.calls += 1
        return x


def test_warm_up_goes_on_until_two_blocks_agree():
    # Blocks of 10 are compared at 20, 30, ... warm-up calls. Calls 0-4 are slow, so the block
    # medians at call 20 are 11 ms vs 2 ms; at call 30 both blocks are all fast: settled.
    model = SlowStart(slow_calls=5)
    settings = LatencySettings(warmup_iters=1, warmup_seconds=0.0, min_iters=10, target_ci=10.0,
                               settle_tolerance=0.25)
    timing = measure_latency(model, torch.zeros(1), settings)
    assert (timing.warmup_iters, timing.warmup_settled) == (30, True)
    assert model.calls == 30 + len(timing.samples_ms)
    assert timing.samples_ms.max() < 20.0  # no slow call was timed


def test_warm_up_stops_at_its_cap_when_timings_never_settle():
    class Alternating(nn.Module):
        calls = 0

        def forward(self, x):  # 10 calls of 1 ms, 10 of 3 ms, ...: adjacent blocks never agree
            time.sleep(0.001 if (Alternating.calls // 10) % 2 == 0 else 0.003)
            Alternating.calls += 1
            return x

    settings = LatencySettings(warmup_iters=1, warmup_seconds=0.0, min_iters=3, target_ci=10.0,
                               warmup_max_seconds=0.15)
    timing = measure_latency(Alternating(), torch.zeros(1), settings)
    assert timing.warmup_settled is False
    assert 0.15 <= timing.warmup_seconds < 0.15 + 0.1


def test_minimum_warm_up_completes_even_past_the_cap():
    settings = LatencySettings(warmup_iters=6, warmup_seconds=0.0, min_iters=3, target_ci=10.0,
                               warmup_max_seconds=0.01)
    timing = measure_latency(Sleeper(0.005), torch.zeros(1), settings)
    assert (timing.warmup_iters, timing.warmup_settled) == (6, False)


def test_no_warm_up_at_all_when_both_minimums_are_zero():
    timing = measure_latency(nn.Identity(), torch.zeros(1), LatencySettings(min_iters=3, target_ci=10.0, **NO_WARMUP))
    assert (timing.warmup_iters, timing.warmup_seconds, timing.warmup_settled) == (0, 0.0, None)


def test_warmup_cap_defaults_to_a_quarter_of_max_seconds_but_at_least_half_a_second():
    assert LatencySettings(max_seconds=8.0).warmup_cap_seconds == 2.0
    assert LatencySettings(max_seconds=1.0).warmup_cap_seconds == 0.5
    assert LatencySettings(max_seconds=8.0, warmup_max_seconds=0.1).warmup_cap_seconds == 0.1
    with pytest.raises(ValueError):
        LatencySettings(settle_block=-1)


def test_window_observes_exactly_the_timed_forwards():
    model = SlowStart(slow_calls=0, fast=0.0)
    seen = {}

    class Window:
        def __enter__(self):
            seen["enter"] = model.calls

        def __exit__(self, *exc):
            seen["exit"] = model.calls

    timing = measure_latency(model, torch.zeros(1), LatencySettings(min_iters=5, target_ci=10.0), window=Window())
    assert seen["enter"] == timing.warmup_iters
    assert seen["exit"] - seen["enter"] == len(timing.samples_ms)

# --- host-to-device copy ---------------------------------------------------


def test_host_example_is_ignored_on_cpu():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(x)
            return x

    example, host = torch.zeros(2), torch.ones(2)
    time_forward(Probe(), example, LatencySettings(min_iters=3, target_ci=10.0, **NO_WARMUP), host_example=host)
    assert seen and all(x is example for x in seen)


def test_prepare_example_keeps_the_copy_out_on_cpu():
    example, host = prepare_example(torch.zeros(2, 3), "cpu", torch.float64, include_h2d=True)
    assert (example.dtype, example.device.type, host) == (torch.float64, "cpu", None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_host_example_copy_is_timed_on_cuda():
    example, host = prepare_example(torch.randn(256, 1024), "cuda", include_h2d=True)
    assert host is not None and host.is_pinned() and host.device.type == "cpu"
    settings = LatencySettings(min_iters=20, target_ci=10.0)
    without = np.median(time_forward(nn.Identity(), example, settings))
    with_copy = np.median(time_forward(nn.Identity(), example, settings, host_example=host))
    assert with_copy > without


def test_settings_reject_nonsense():
    with pytest.raises(ValueError):
        LatencySettings(min_iters=0)
    with pytest.raises(ValueError):
        LatencySettings(max_seconds=0.0)


# --- threads and seeds -----------------------------------------------------


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1) as effective:
        assert effective == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_torch_threads_restores_on_exception():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_torch_threads_none_keeps_the_current_count():
    before = torch.get_num_threads()
    with torch_threads(None) as effective:
        assert effective == before == torch.get_num_threads()


def test_torch_threads_rejects_zero():
    with pytest.raises(ValueError):
        with torch_threads(0):
            pass


def _draw() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_seeded_is_reproducible_and_restores_all_rng_states():
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    expected_after = _draw()

    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    with seeded(7):
        first = _draw()
    with pytest.raises(KeyError):
        with seeded(7):
            assert _draw() == first
            raise KeyError("states are restored on exception too")
    assert _draw() == expected_after
