"""Latency and memory of one model on one device, measured in a fresh process.

:func:`measure_isolated` starts a fresh process that owns the device while
it times; the parent blocks on the result (no polling loop), so it takes no
CPU from the measurement. A crash in the child becomes an error, not a crash
of the run. Processes come from a fork server that has imported torch and
this module and done nothing else: each child starts in milliseconds yet
inherits no allocator state, caches or threads from the run that trained
the models.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from harness.measure.latency import LatencySettings, summarize, time_forward
from harness.measure.memory import inference_memory
from harness.measure.threads import torch_threads


@dataclass
class BatchResult:
    batch_size: int
    status: str = "ok"
    error: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    memory_bytes: int | None = None
    samples_ms: list[float] = field(default_factory=list)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def measure_speed(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                  threads: int | None, settings: LatencySettings, seed: int = 0) -> tuple[int, list[BatchResult]]:
    """Time and size one model at each batch size; returns (threads used, results)."""
    results = []
    with torch_threads(threads) as used:
        model = model.to(device).eval()
        generator = torch.Generator().manual_seed(seed)
        for batch_size in batch_sizes:
            result = BatchResult(batch_size)
            try:
                example = torch.randn((batch_size, *input_shape), generator=generator).to(device)
                samples = time_forward(model, example, settings)
                result.stats = asdict(summarize(samples, batch_size))
                result.samples_ms = [float(s) for s in samples]
                result.memory_bytes = inference_memory(model, example).total_bytes
            except Exception as exc:  # recorded per batch size; the sweep goes on
                result.status = "skipped" if _is_oom(exc) else "error"
                result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
            results.append(result)
    return used, results


def measure_isolated(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                     threads: int | None, settings: LatencySettings,
                     timeout: float | None = None) -> tuple[int, list[BatchResult]]:
    """:func:`measure_speed` in a fresh process; blocks until it returns."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", __name__])
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(measure_speed, model, input_shape, batch_sizes, device, threads, settings)
        return future.result(timeout=timeout)
