"""Interleaved timing: every batch size in short rounds, round-robin, until each is tight enough.

A shared machine has slow phases: stretches of tens to hundreds of
milliseconds in which everything runs up to twice as slow (seen on this
project's 2-core machines with nothing else running). A batch size timed in
one contiguous window of a few milliseconds lands wholly inside or outside
such a phase, so back-to-back runs disagree by far more than their
confidence intervals, and the cell's own spread (IQR/median) does not show
it. Timing every batch size in rounds, round-robin, spreads each cell's
samples over the whole measurement: a slow phase then shifts a few rounds of
every cell instead of all of one cell, the median absorbs it, and a long one
widens the IQR, which flags the cell noisy.

Each batch size warms up (until its timings settle) in its first round. A
round lasts ``round_seconds``; a batch size stops once it has at least
``min_rounds`` rounds and ``min_iters`` samples and its median's 95%
interval is within ``target_ci``, or once its timed rounds add up to
``max_seconds``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

import numpy as np
from torch import Tensor, nn

from harness.measure.latency import LatencySettings, measure_latency, relative_ci_half_width

MIN_ROUNDS = 3
ROUND_SECONDS = 0.02


def measure_interleaved(model: nn.Module, examples: Mapping[int, Tensor], settings: LatencySettings, *,
                        min_rounds: int = MIN_ROUNDS, round_seconds: float = ROUND_SECONDS,
                        ) -> tuple[dict[int, np.ndarray], dict[int, BaseException]]:
    """Per-iteration latencies (ms) for each key of ``examples``, and the exceptions of those that failed."""
    first = dataclasses.replace(settings, max_seconds=round_seconds, target_ci=0.0, min_iters=1)
    later = dataclasses.replace(first, warmup_iters=0, warmup_seconds=0.0)
    samples: dict[int, list[float]] = {key: [] for key in examples}
    timed = dict.fromkeys(examples, 0.0)
    rounds = dict.fromkeys(examples, 0)
    failed: dict[int, BaseException] = {}
    active = list(examples)
    while active:
        for key in list(active):
            started = time.perf_counter()
            try:
                timing = measure_latency(model, examples[key], first if rounds[key] == 0 else later)
            except Exception as exc:  # this batch size is recorded as failed; the others go on
                failed[key] = exc
                active.remove(key)
                continue
            samples[key] += timing.samples_ms.tolist()
            timed[key] += time.perf_counter() - started - timing.warmup_seconds
            rounds[key] += 1
            tight = (rounds[key] >= min_rounds and len(samples[key]) >= settings.min_iters
                     and relative_ci_half_width(samples[key]) <= settings.target_ci)
            if tight or timed[key] >= settings.max_seconds:
                active.remove(key)
    return {key: np.asarray(v, dtype=np.float64) for key, v in samples.items() if key not in failed}, failed
