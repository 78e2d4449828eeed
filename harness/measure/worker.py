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

import multiprocessing
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
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


class WorkerFailed(Exception):
    """The measuring process crashed, timed out or raised; the message says which."""


def _child(conn: Connection, *args: Any) -> None:
    try:
        conn.send(("ok", measure_speed(*args)))
    except BaseException as exc:  # everything goes back to the parent as one line
        conn.send(("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:500]))
    finally:
        conn.close()


def measure_isolated(model: nn.Module, input_shape: tuple[int, ...], batch_sizes: list[int], device: str,
                     threads: int | None, settings: LatencySettings,
                     timeout: float | None = None) -> tuple[int, list[BatchResult]]:
    """:func:`measure_speed` in a fresh process; blocks until it returns.

    Raises :class:`WorkerFailed` when the process raises, dies (a segfault, the
    OOM killer) or runs past ``timeout`` seconds (it is then killed).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", __name__])
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, model, input_shape, batch_sizes, device, threads, settings),
                              daemon=True)
    try:
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
