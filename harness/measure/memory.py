"""Deterministic tensor memory of one forward pass, independent of allocator and RSS.

:func:`inference_memory` counts bytes of tensor storages, not what the
allocator or the OS reports, so the number is the same on every run and every
machine for the same model, input shape and dtype:

- ``weights_bytes``: unique storages of parameters and buffers (tied weights
  count once), plus the packed weights of quantized modules;
- ``input_bytes``: the example's storage;
- ``activations_peak_bytes``: the peak, over one forward under
  ``torch.inference_mode()``, of the bytes of live storages created by the
  forward's ATen ops, the final output included.

How the peak is counted: a ``TorchDispatchMode`` sees every ATen op's outputs.
An output whose storage is neither a parameter, a buffer, the input, a
storage of the op's own arguments, nor one already tracked, is new: its
``nbytes`` are added to the live total, once per storage. Every output tensor that refers to a tracked storage (the new
tensor itself, later views of it, in-place results) gets a ``weakref.finalize``
and adds one to that storage's reference count; when the last of them is
garbage collected, the storage's bytes leave the live total. The cyclic
garbage collector is paused during the forward so the count does not depend
on when it happens to run.

What it does not see: scratch buffers a kernel allocates and frees inside one
op (e.g. the mean and rstd of ``aten.layer_norm``, or everything inside a
fused kernel such as the fast path of ``nn.TransformerEncoderLayer`` in
eval mode), storages resized in place, allocator caching and
fragmentation, and the Python/C++ object overhead. It is a lower bound on the
process's real peak, and a stable one, which is what comparisons need.
``process_peak_rss_bytes`` reports the noisy process-level number alongside.

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
>>> inference_memory(model, torch.zeros(2, 8))
MemoryBreakdown(weights_bytes=848, input_bytes=64, activations_peak_bytes=256)
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from harness.measure.size import quantized_weight_tensors


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes of tensor storage needed to run one forward (see the module docstring)."""

    weights_bytes: int
    input_bytes: int
    activations_peak_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.input_bytes + self.activations_peak_bytes


def _storage_key(tensor: Tensor) -> tuple[int, int] | None:
    """(data_ptr, nbytes) of a tensor's storage; None when it has no real storage."""
    if tensor.device.type == "meta" or tensor.is_sparse:
        return None
    storage = tensor.untyped_storage()
    return (storage.data_ptr(), storage.nbytes()) if storage.data_ptr() else None


def unique_storage_bytes(tensors: Iterable[Tensor]) -> int:
    """Sum of storage bytes over distinct storages (a storage shared by views counts once)."""
    sizes: dict[int, int] = {}
    for tensor in tensors:
        key = _storage_key(tensor)
        if key is not None:
            sizes[key[0]] = key[1]
    return sum(sizes.values())


def weight_tensors(model: nn.Module) -> list[Tensor]:
    """Parameters, buffers and quantized modules' packed weights of ``model``."""
    return [*model.parameters(), *model.buffers(), *quantized_weight_tensors(model)]


class _LiveBytes(TorchDispatchMode):
    """Track live bytes of storages created by ATen ops (see the module docstring)."""

    def __init__(self, ignored_ptrs: set[int]):
        super().__init__()
        self.ignored = ignored_ptrs
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = 0
        self.peak = 0
        self.finalizers: list[weakref.finalize] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        arg_ptrs = _existing_ptrs(t for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, Tensor):
                self._track(tensor, arg_ptrs)
        return out

    def _track(self, tensor: Tensor, arg_ptrs: set[int]) -> None:
        key = _storage_key(tensor)
        if key is None or key[0] in self.ignored:
            return
        ptr, nbytes = key
        if ptr not in self.refs:
            if ptr in arg_ptrs:  # a view of, or in-place on, storage that predates the forward
                return
            self.refs[ptr], self.sizes[ptr] = 0, nbytes
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        self.refs[ptr] += 1
        finalizer = weakref.finalize(tensor, self._release, ptr)
        finalizer.atexit = False
        self.finalizers.append(finalizer)

    def _release(self, ptr: int) -> None:
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0:
            del self.refs[ptr]
            self.live -= self.sizes.pop(ptr)

    def detach(self) -> None:
        for finalizer in self.finalizers:
            finalizer.detach()
        self.finalizers.clear()


def _existing_ptrs(tensors: Iterable[Tensor]) -> set[int]:
    return {key[0] for key in map(_storage_key, tensors) if key is not None}


def activations_peak_bytes(model: nn.Module, example: Tensor) -> int:
    """Peak live bytes of storages created during one forward (see the module docstring)."""
    # Only tensors that stay alive through the forward: a freed storage's address may be reused.
    ignored = _existing_ptrs([example, *model.parameters(), *model.buffers()])
    tracker = _LiveBytes(ignored)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.inference_mode(), tracker:
            output = model(example)
        del output
        return tracker.peak
    finally:
        tracker.detach()
        if gc_was_enabled:
            gc.enable()


def inference_memory(model: nn.Module, example: Tensor) -> MemoryBreakdown:
    """Weights, input and peak activation bytes of one forward of ``model`` on ``example``."""
    return MemoryBreakdown(
        weights_bytes=unique_storage_bytes(weight_tensors(model)),
        input_bytes=unique_storage_bytes([example]),
        activations_peak_bytes=activations_peak_bytes(model, example),
    )


def process_peak_rss_bytes() -> int | None:
    """Peak resident set size of this process so far, in bytes; None where unavailable.

    For reference only: it includes the interpreter, torch itself and every
    allocation so far, and it never goes down.
    """
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # bytes on macOS, KiB on Linux
