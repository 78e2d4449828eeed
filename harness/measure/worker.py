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

import contextlib
import gc
import io
import math
import multiprocessing
import multiprocessing.forkserver
import pickle
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import one_line
from harness.measure.backends import BackendUnavailable, first_call_seconds, prepare
from harness.measure.gpu import GpuSampler, GpuTelemetry, nvml_device_id, nvml_status
from harness.measure.latency import LatencySettings, measure_latency, prepare_example, summarize
from harness.measure.memory import inference_memory
from harness.measure.rounds import measure_interleaved
from harness.measure.rss import RssBreakdown, cuda_peak, rss_breakdown
from harness.measure.size import model_dtype
from harness.measure.threads import torch_threads

#: (value, ci_low, ci_high, n) of one metric; NaN where there is no interval
Value = tuple[float, float, float, int | None]


@dataclass
class BatchResult:
    """Everything measured at one batch size: values, and for each metric that is absent, why."""

    batch_size: int
    status: str = "ok"
    error: str = ""
    values: dict[str, Value] = field(default_factory=dict)
    absent: dict[str, tuple[str, str]] = field(default_factory=dict)  # metric -> (status, reason)
    samples_ms: list[float] = field(default_factory=list)

    def put(self, metric: str, value: float | None, ci: tuple[float, float] = (math.nan, math.nan),
            n: int | None = None, reason: str = "not measured") -> None:
        if value is None:
            self.absent[metric] = ("skipped", reason)
        else:
            self.values[metric] = (float(value), ci[0], ci[1], n)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def _latency(result: BatchResult, samples_ms: np.ndarray) -> None:
    st = summarize(samples_ms, result.batch_size)
    result.samples_ms = [float(s) for s in samples_ms]
    result.put("latency_p50_ms", st.p50_ms, (st.boot_low_ms, st.boot_high_ms), st.n)
    for name, value in (("latency_p90_ms", st.p90_ms), ("latency_p95_ms", st.p95_ms), ("latency_p99_ms", st.p99_ms),
                        ("latency_mean_ms", st.mean_ms), ("throughput_sps", st.throughput_sps),
                        ("latency_iqr_over_median", st.iqr_over_median)):
        result.put(name, value, n=st.n)


def _gpu(result: BatchResult, telemetry: GpuTelemetry | None, reason: str) -> None:
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


def _memory(result: BatchResult, model: nn.Module, example: torch.Tensor, rss: RssBreakdown | None) -> None:
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


def _failed(result: BatchResult, exc: BaseException, on_cuda: bool) -> None:
    result.status = "skipped" if _is_oom(exc) or _unsupported(exc) else "error"
    result.error = one_line(exc)
    if on_cuda:
        torch.cuda.empty_cache()


NOT_EAGER_MEMORY = "memory is measured for backend eager (the PyTorch module's tensors and process RSS)"
MEMORY_METRICS = ("peak_memory_bytes", "rss_peak_bytes", "rss_weights_bytes", "rss_activations_bytes",
                  "cuda_peak_allocated_bytes")


def _memory_or_skip(result: BatchResult, model: nn.Module, runner: Any, example: torch.Tensor,
                    rss: RssBreakdown | None) -> None:
    if runner is model:
        _memory(result, model, example, rss)
    else:
        for name in MEMORY_METRICS:
            result.put(name, None, reason=NOT_EAGER_MEMORY)


def _measure_cpu(model: nn.Module, runner: Any, examples: dict[int, torch.Tensor], results: dict[int, BatchResult],
                 settings: LatencySettings, gpu_reason: str) -> None:
    """Resident memory of each batch size first (eager), then every batch size timed in interleaved rounds."""
    rss: dict[int, RssBreakdown] = {}
    for batch_size, example in list(examples.items()):
        if runner is not model:
            continue
        try:
            rss[batch_size] = rss_breakdown(model, example)
        except Exception as exc:  # this batch size fails; the sweep goes on
            _failed(results[batch_size], exc, on_cuda=False)
            del examples[batch_size]
    timings, failed = measure_interleaved(runner, examples, settings)
    for batch_size, error in failed.items():
        _failed(results[batch_size], error, on_cuda=False)
    for batch_size, samples in timings.items():
        result = results[batch_size]
        try:
            _latency(result, samples)
            _gpu(result, None, gpu_reason)
            _memory_or_skip(result, model, runner, examples[batch_size], rss.get(batch_size))
        except Exception as exc:
            _failed(result, exc, on_cuda=False)


def _measure_cuda(model: nn.Module, runner: Any, examples: dict[int, torch.Tensor],
                  hosts: dict[int, torch.Tensor | None], results: dict[int, BatchResult], settings: LatencySettings,
                  device: str, gpu_reason: str) -> None:
    """Each batch size in one contiguous window, so that NVML telemetry covers exactly its timed forwards."""
    for batch_size, example in examples.items():
        result = results[batch_size]
        try:
            sampler = GpuSampler(nvml_device_id(torch.device(device).index or 0)) if not gpu_reason else None
            timing = measure_latency(runner, example, settings, host_example=hosts[batch_size], window=sampler)
            _latency(result, timing.samples_ms)
            _gpu(result, sampler.telemetry if sampler else None, gpu_reason)
            _memory_or_skip(result, model, runner, example, None)
        except Exception as exc:  # recorded per batch size; the sweep goes on
            _failed(result, exc, on_cuda=True)


def make_input(batch_size: int, input_shape: tuple[int, ...], generator: torch.Generator,
               token_range: tuple[int, int] | None = None) -> torch.Tensor:
    """A random batch: standard normal floats, or int64 token ids uniform in ``token_range`` (text models)."""
    if token_range is None:
        return torch.randn((batch_size, *input_shape), generator=generator)
    return torch.randint(token_range[0], token_range[1], (batch_size, *input_shape), generator=generator)


def _prepare_backend(model: nn.Module, backend: str, examples: dict[int, torch.Tensor],
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
            result.status, result.error = "skipped", str(exc)
        return None
    except Exception as exc:  # an op the converter does not support, say: every cell of this backend fails
        for result in results.values():
            result.status, result.error = "error", f"{backend}: {one_line(exc)}"
        return None
    for batch_size, example in list(examples.items()):
        try:
            seconds = first_call_seconds(runner, example)
        except Exception as exc:  # this batch size fails; the sweep goes on
            _failed(results[batch_size], exc, on_cuda)
            del examples[batch_size]
            continue
        if backend == "eager":
            results[batch_size].put("compile_seconds", None, reason="eager PyTorch compiles nothing")
        else:
            results[batch_size].put("compile_seconds", prepared + seconds)
            prepared = 0.0  # the conversion is charged to the first batch size; later ones pay their first call
    return runner


def measure_speed(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                  threads: int | None, settings: LatencySettings, include_h2d: bool = False,
                  seed: int = 0, backend: str = "eager",
                  token_range: tuple[int, int] | None = None) -> tuple[int, list[BatchResult]]:
    """Time and size one model at each batch size; returns (threads used, results in batch-size order).

    Inputs are built before anything is timed (token ids in ``token_range``
    for text models, else standard normal floats), then the model is prepared
    for ``backend`` (:mod:`harness.measure.backends`). On CPU: resident memory
    per batch size, then latency in interleaved rounds
    (:mod:`harness.measure.rounds`), then tensor memory. On CUDA: per batch
    size, latency with NVML telemetry over exactly the timed window, then
    tensor and allocator memory. Memory is measured for ``eager`` only.
    """
    on_cuda = device.startswith("cuda")
    gpu_reason = (nvml_status() or "") if on_cuda else f"GPU telemetry applies to cuda devices, not {device}"
    results = {b: BatchResult(b) for b in batch_sizes}
    with torch_threads(threads) as used:
        model = model.to(device).eval()
        dtype = model_dtype(model) if token_range is None else None  # float16 models get float16; token ids stay
        generator = torch.Generator().manual_seed(seed)
        examples: dict[int, torch.Tensor] = {}
        hosts: dict[int, torch.Tensor | None] = {}
        for batch_size in batch_sizes:
            try:
                cpu_example = make_input(batch_size, input_shape, generator, token_range)
                examples[batch_size], hosts[batch_size] = prepare_example(cpu_example, device, dtype,
                                                                          include_h2d=include_h2d)
            except Exception as exc:  # an input that does not fit is that batch size's failure
                _failed(results[batch_size], exc, on_cuda)
        runner = _prepare_backend(model, backend, examples, results, used, on_cuda)
        if runner is None:
            pass
        elif on_cuda:
            _measure_cuda(model, runner, examples, hosts, results, settings, device, gpu_reason)
        else:
            _measure_cpu(model, runner, examples, results, settings, gpu_reason)
    return used, [results[b] for b in batch_sizes]


def start_server() -> multiprocessing.context.ForkServerContext:
    """Start the fork server now (it imports torch in the background) and return its context.

    The runner calls this before it loads data and trains, so that the
    server's start-up overlaps that work instead of delaying the first measurement.
    """
    context: multiprocessing.context.ForkServerContext = multiprocessing.get_context("forkserver")
    # torch._dynamo is what the first TorchDispatchMode of a process imports (about 1-2 s): once, in the server
    context.set_forkserver_preload(["torch", "torch._dynamo", __name__])
    multiprocessing.forkserver.ensure_running()
    return context


class WorkerFailed(Exception):
    """The measuring process crashed, timed out or raised; the message says which."""


def to_payload(model: nn.Module) -> tuple[str, bytes]:
    """The model as bytes for the measuring process: TorchScript is saved (it does not pickle), the rest pickled."""
    if isinstance(model, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # deprecated upstream, still served
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(model, buffer)
        return "torchscript", buffer.getvalue()
    return "pickle", pickle.dumps(model)


def from_payload(payload: tuple[str, bytes]) -> nn.Module:
    kind, data = payload
    with warnings.catch_warnings():  # torch.jit is deprecated; unpickling int8 modules warns about TypedStorage
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.jit.load(io.BytesIO(data), map_location="cpu") if kind == "torchscript" else pickle.loads(data)


def _child(conn: Connection, payload: tuple[str, bytes], *args: Any, **kwargs: Any) -> None:
    try:
        model = from_payload(payload)
        # Everything alive now (torch, the model) stays: the memory measurements' gc.collect() calls then
        # scan only what the measurement itself creates (about 0.1 s a call otherwise, several per batch size).
        gc.freeze()
        conn.send(("ok", measure_speed(model, *args, **kwargs)))
    except BaseException as exc:  # everything goes back to the parent as one line
        with contextlib.suppress(OSError):  # a parent that is gone (Ctrl-C) hears nothing, and needs nothing
            conn.send(("error", one_line(exc)))
    finally:
        conn.close()


def measure_isolated(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                     threads: int | None, settings: LatencySettings, include_h2d: bool = False,
                     timeout: float | None = None, backend: str = "eager",
                     token_range: tuple[int, int] | None = None) -> tuple[int, list[BatchResult]]:
    """:func:`measure_speed` in a fresh process; blocks until it returns.

    Raises :class:`WorkerFailed` when the process raises, dies (a segfault, the
    OOM killer) or runs past ``timeout`` seconds (it is then killed).
    """
    context = start_server()
    receive, send = context.Pipe(duplex=False)
    # the model travels as plain pickle bytes: multiprocessing's own pickler moves tensors through shared
    # memory, which int8 (quantized) storages do not support
    args = (send, to_payload(model), input_shape, batch_sizes, device, threads, settings, include_h2d)
    kwargs = {"backend": backend, "token_range": token_range}
    process = context.Process(target=_child, args=args, kwargs=kwargs, daemon=True)
    from harness.store import signals_deferred  # here, not at the top: the fork server preloads this module

    try:
        with signals_deferred():  # Ctrl-C inside start() would leave a child this process does not know to kill
            process.start()
        send.close()
        if not receive.poll(timeout):  # one blocking wait: no polling loop competes with the child for a core
            raise WorkerFailed(f"timed out after {timeout:g} s (measure.timeout_seconds); the process was killed")
        try:
            status, result = receive.recv()
        except EOFError:
            process.join()
            raise WorkerFailed(f"the measuring process died (exit code {process.exitcode})") from None
        if status != "ok":
            raise WorkerFailed(result)
        return result
    finally:
        if process.is_alive():
            process.kill()
        if process.pid is not None:
            process.join()
        receive.close()
