"""What one model measures at one batch size, and the per-batch-size steps that fill it in.

:class:`BatchResult` holds a batch size's values, each with its interval,
and, for every metric that is absent, the status and the reason. The
functions here put latency statistics, GPU telemetry and memory into one,
or record why a batch size failed; :mod:`harness.measure.session` calls them
in the measuring process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import one_line
from harness.measure.backends import BackendUnavailable, first_call_seconds, prepare
from harness.measure.gpu import GpuTelemetry
from harness.measure.latency import summarize
from harness.measure.memory import inference_memory
from harness.measure.rss import RssBreakdown, cuda_peak
from harness.measure.stats import round_spread
from harness.rows import Status

#: (value, ci_low, ci_high, n) of one metric; NaN where there is no interval
Value = tuple[float, float, float, int | None]


@dataclass
class BatchResult:
    """Everything measured at one batch size: values, and for each metric that is absent, why."""

    batch_size: int
    status: Status = Status.OK
    error: str = ""
    values: dict[str, Value] = field(default_factory=dict)
    absent: dict[str, tuple[Status, str]] = field(default_factory=dict)  # metric -> (status, reason)
    samples_ms: list[float] = field(default_factory=list)
    #: for each sample, the paired round it was timed in and its model's place in that round's order
    rounds: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    #: the server scenario's target rate of this result (None elsewhere)
    target_qps: float | None = None
    #: the metrics a scenario result has (harness.measure.serving); empty: the closed-loop sweep's
    metrics: tuple[str, ...] = ()

    def put(self, metric: str, value: float | None, ci: tuple[float, float] = (math.nan, math.nan),
            n: int | None = None, reason: str = "not measured") -> None:
        if value is None:
            self.absent[metric] = (Status.SKIPPED, reason)
        else:
            self.values[metric] = (float(value), ci[0], ci[1], n)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def put_latency(result: BatchResult, samples_ms: np.ndarray,
                p50: tuple[float, float, float] | None = None, medians: list[float] | None = None) -> None:
    """Latency statistics of the pooled samples. ``p50``: (value, ci_low, ci_high) of the median from paired
    rounds (the median of the round medians, :func:`harness.measure.stats.round_interval`); without it the
    pooled median with the percentile bootstrap over samples. ``medians``: the rounds' window medians, whose
    spread (:func:`harness.measure.stats.round_spread`) flags the cell noisy."""
    st = summarize(samples_ms, result.batch_size)
    result.samples_ms = [float(s) for s in samples_ms]
    value, low, high = p50 or (st.p50_ms, st.boot_low_ms, st.boot_high_ms)
    result.put("latency_p50_ms", value, (low, high), st.n)
    for name, value in (("latency_p90_ms", st.p90_ms), ("latency_p95_ms", st.p95_ms), ("latency_p99_ms", st.p99_ms),
                        ("latency_mean_ms", st.mean_ms), ("throughput_sps", st.throughput_sps),
                        ("latency_iqr_over_median", st.iqr_over_median)):
        result.put(name, value, n=st.n)
    medians = medians or []
    spread = round_spread(medians)
    result.put("latency_round_spread", None if math.isnan(spread) else spread, n=len(medians),
               reason="fewer than two rounds: no spread between rounds")


def put_gpu(result: BatchResult, telemetry: GpuTelemetry | None, reason: str) -> None:
    if telemetry is None:
        for name in ("gpu_util_pct", "gpu_power_w", "energy_j_per_sample", "gpu_process_memory_bytes"):
            result.put(name, None, reason=reason)
        return
    unsupported = "not reported by this GPU's NVML"
    items = len(result.samples_ms) * result.batch_size
    result.put("gpu_util_pct", telemetry.util_pct_mean, n=telemetry.samples, reason=unsupported)
    result.put("gpu_power_w", telemetry.power_w_mean, n=telemetry.samples, reason=unsupported)
    result.put("energy_j_per_sample", telemetry.energy_j_per_item(items), n=items, reason=unsupported)
    result.put("gpu_process_memory_bytes", telemetry.process_memory_bytes,
               reason="NVML does not report this process's memory here")


def _eager_memory(result: BatchResult, model: nn.Module, example: torch.Tensor, rss: RssBreakdown | None) -> None:
    result.put("peak_memory_bytes", inference_memory(model, example).total_bytes)
    on_cuda = example.device.type == "cuda"
    for name in ("rss_peak_bytes", "rss_weights_bytes", "rss_activations_bytes"):
        value = getattr(rss, name.removeprefix("rss_")) if rss is not None else None
        result.put(name, value, reason="process RSS is measured on cpu devices")
    peak = cuda_peak(model, example)["peak_allocated_bytes"] if on_cuda else None
    result.put("cuda_peak_allocated_bytes", peak, reason="the CUDA allocator peak applies to cuda devices")


def _unsupported(exc: BaseException) -> bool:
    """An op this device does not implement for this dtype (bfloat16 on some CPUs, say): a skip, not a bug."""
    return isinstance(exc, NotImplementedError) or "not implemented for" in str(exc)


def record_failure(result: BatchResult, exc: BaseException, on_cuda: bool) -> None:
    result.status = Status.SKIPPED if _is_oom(exc) or _unsupported(exc) else Status.ERROR
    result.error = one_line(exc)
    if on_cuda:
        torch.cuda.empty_cache()


NOT_EAGER_MEMORY = "memory is measured for backend eager (the PyTorch module's tensors and process RSS)"
MEMORY_METRICS = ("peak_memory_bytes", "rss_peak_bytes", "rss_weights_bytes", "rss_activations_bytes",
                  "cuda_peak_allocated_bytes")


def put_memory(result: BatchResult, model: nn.Module, runner: Any, example: torch.Tensor,
               rss: RssBreakdown | None) -> None:
    if runner is model:
        _eager_memory(result, model, example, rss)
    else:
        for name in MEMORY_METRICS:
            result.put(name, None, reason=NOT_EAGER_MEMORY)


def make_input(batch_size: int, input_shape: tuple[int, ...], generator: torch.Generator,
               token_range: tuple[int, int] | None = None) -> torch.Tensor:
    """A random batch: standard normal floats, or int64 token ids uniform in ``token_range`` (text models)."""
    if token_range is None:
        return torch.randn((batch_size, *input_shape), generator=generator)
    return torch.randint(token_range[0], token_range[1], (batch_size, *input_shape), generator=generator)


def prepare_backend(model: nn.Module, backend: str, examples: dict[int, torch.Tensor],
                    results: dict[int, BatchResult], threads: int | None, on_cuda: bool) -> Any:
    """The model as ``backend`` runs it, with compile_seconds per batch size; None (cells failed) if it cannot."""
    if not examples:
        return None
    try:
        started = time.perf_counter()
        runner = prepare(model, backend, next(iter(examples.values())), threads)
        prepared = time.perf_counter() - started
    except BackendUnavailable as exc:
        for result in results.values():
            result.status, result.error = Status.SKIPPED, str(exc)
        return None
    except Exception as exc:  # an op the converter does not support, say: every cell of this backend fails
        for result in results.values():
            result.status, result.error = Status.ERROR, f"{backend}: {one_line(exc)}"
        return None
    for batch_size, example in list(examples.items()):
        try:
            seconds = first_call_seconds(runner, example)
        except Exception as exc:  # this batch size fails; the sweep goes on
            record_failure(results[batch_size], exc, on_cuda)
            del examples[batch_size]
            continue
        if backend == "eager":
            results[batch_size].put("compile_seconds", None, reason="eager PyTorch compiles nothing")
        else:
            results[batch_size].put("compile_seconds", prepared + seconds)
            prepared = 0.0  # the conversion is charged to the first batch size; later ones pay their first call
    return runner


