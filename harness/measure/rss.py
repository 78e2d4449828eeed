"""Resident memory (RSS) of one model's inference in this process, split into weights and activations.

Run it in a fresh process (the runner's measuring child), before anything
else has run there: RSS is a property of the whole process, so whatever
ran before leaves pages behind.

:func:`rss_breakdown` measures, in order:

1. ``baseline_bytes``: RSS after a garbage collection and ``malloc_trim(0)``
   (free heap pages handed back to the OS), before the model's weights exist
   in this copy: the interpreter, torch, the input, and anything the caller
   holds (including the module itself, when one is passed instead of a
   factory);
2. ``weights_bytes``: RSS after the weights are materialised (the factory is
   called, or the module is deep-copied into fresh pages) minus the baseline;
3. one untimed forward, to run one-time initialisation (thread pools, kernel
   caches) outside the measured one; its memory is trimmed again;
4. ``activations_bytes``: the peak RSS during one forward (output included)
   minus the RSS just before it; ``peak_bytes`` is that peak, absolute.

The peak is the kernel's high-water mark ``VmHWM``, reset just before the
forward by writing ``5`` to ``/proc/self/clear_refs`` (Linux 4.0+), so it
sees every page however briefly it was resident (``method="hwm"``). Where
that reset is not available a thread reads ``VmRSS`` every millisecond
during the forward and once after it (``method="sampled"``), which can miss a
spike shorter than 1 ms.

What RSS includes and the limits: whole pages (4 KiB, or 2 MiB with
transparent huge pages), so an activation of a few KiB is noise; memory the
allocator keeps cached rather than returned (glibc arenas are trimmed
before each step, other allocators are not), so a freed-and-reused buffer
inside the forward counts once and a cached one may not count at all;
thread stacks and per-thread scratch buffers of the math libraries; file
pages of shared libraries touched for the first time. It is the number an
operator sizing a machine sees; for a deterministic per-model figure that
compares models fairly, use :mod:`harness.measure.memory` (tensor bytes).

>>> import torch
>>> from torch import nn
>>> r = rss_breakdown(lambda: nn.Linear(8, 4), torch.zeros(2, 8))
>>> r.peak_bytes >= r.baseline_bytes > 0 and r.method in ("hwm", "sampled")
True
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import functools
import gc
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
import torch
from torch import Tensor, nn

PROC_STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
#: the fallback sampler's period (seconds)
SAMPLE_PERIOD_S = 0.001


@dataclass(frozen=True)
class RssBreakdown:
    """Bytes of resident memory; see the module docstring for what each share holds."""

    baseline_bytes: int
    weights_bytes: int
    activations_bytes: int
    peak_bytes: int
    method: Literal["hwm", "sampled"]


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", PROC_STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    rss = _status_kib("VmRSS")
    return rss if rss is not None else int(psutil.Process().memory_info().rss)


def _reset_peak() -> bool:
    """Reset the kernel's high-water mark to the current RSS; False where that is not possible."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm - rss < 2**20  # a reset that was ignored leaves the old peak


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def _trim() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc only; elsewhere a no-op)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _RssSampler:
    """Max of ``current_rss()`` read every millisecond by a thread (blocking waits, no spinning)."""

    def __init__(self) -> None:
        self.peak = current_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_PERIOD_S):
            self.peak = max(self.peak, current_rss())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


def _forward_peak(model: nn.Module, example: Tensor, use_hwm: bool) -> tuple[int, int, Literal["hwm", "sampled"]]:
    """(RSS just before, peak RSS during) one forward, with the output alive until the peak is read."""
    _trim()
    before = current_rss()
    if use_hwm and _reset_peak():
        with torch.inference_mode():
            output = model(example)
        peak = _status_kib("VmHWM")
        del output
        return before, max(peak or 0, before), "hwm"
    with torch.inference_mode(), _RssSampler() as sampler:
        output = model(example)
    del output
    return before, sampler.peak, "sampled"


def rss_breakdown(model: nn.Module | Callable[[], nn.Module], example: Tensor, *,
                  use_hwm: bool = True) -> RssBreakdown:
    """Baseline, weights and activations shares of this process's RSS for one forward (CPU).

    ``model`` is a zero-argument factory that builds (or loads) the model,
    or a module, which is deep-copied so that its weights land in fresh
    pages (the original stays in the baseline). The model is put in eval
    mode. ``use_hwm=False`` forces the sampling thread (for tests).
    """
    if example.device.type != "cpu":
        raise ValueError(f"rss_breakdown measures CPU memory; the example is on {example.device}")
    _trim()
    baseline = current_rss()
    built = copy.deepcopy(model) if isinstance(model, nn.Module) else model()
    built.eval()
    _trim()
    weights = current_rss() - baseline
    with torch.inference_mode():
        warm_output = built(example)  # one-time initialisation happens outside the measured forward
    del warm_output
    before, peak, method = _forward_peak(built, example, use_hwm)
    return RssBreakdown(baseline_bytes=baseline, weights_bytes=max(weights, 0),
                        activations_bytes=max(peak - before, 0), peak_bytes=peak, method=method)


def cuda_peak(model: nn.Module, example: Tensor) -> dict[str, int]:
    """CUDA caching-allocator figures for one forward of ``model`` (already on ``example``'s device).

    ``allocated_before_bytes``: tensors alive before the forward (weights,
    input, anything else held); ``peak_allocated_bytes``: their peak during
    the forward (``torch.cuda.max_memory_allocated`` after a reset), output
    included; ``activations_bytes``: the difference; ``peak_reserved_bytes``:
    what the allocator held from the driver at its peak (caching and
    fragmentation included). None of these include the CUDA context itself
    (hundreds of MiB): NVML's per-process figure does
    (:class:`harness.measure.gpu.GpuTelemetry.process_memory_bytes`).
    """
    device = example.device
    if device.type != "cuda":
        raise ValueError(f"cuda_peak needs a CUDA example, got {device}")
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        output = model(example)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    reserved = torch.cuda.max_memory_reserved(device)
    del output
    return {"allocated_before_bytes": before, "peak_allocated_bytes": peak,
            "activations_bytes": peak - before, "peak_reserved_bytes": reserved}
