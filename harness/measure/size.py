"""Model size: parameter counts, serialized bytes and FLOPs.

>>> from torch import nn
>>> import torch
>>> model = nn.Linear(8, 16)
>>> count_params(model)
144
>>> flops_per_sample(model, torch.zeros(1, 8))
256
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

PRUNE_SUFFIX = "_orig"


def _is_quantized(module: nn.Module) -> bool:
    """A ``torch.ao.nn.quantized`` module (its weights live in packed params, not parameters)."""
    return ".quantized" in type(module).__module__ and callable(getattr(module, "weight", None))


def quantized_weight_tensors(model: nn.Module) -> Iterator[Tensor]:
    """Weights and biases that quantized modules keep packed rather than as parameters.

    ``torch.ao`` quantized modules (dynamic or static Linear, Conv, ...) expose
    them through ``weight()`` and ``bias()`` methods, and ``model.parameters()``
    does not list them; without this a quantized model would count 0 params.
    """
    for module in model.modules():
        if not _is_quantized(module):
            continue
        for name in ("weight", "bias"):
            getter = getattr(module, name, None)
            if callable(getter):
                tensor = getter()
                if isinstance(tensor, Tensor):
                    yield tensor


def _effective_parameters(model: nn.Module) -> Iterator[Tensor]:
    """Parameters as the forward sees them.

    A parameter pruned with ``torch.nn.utils.prune`` is stored as
    ``<name>_orig`` with a ``<name>_mask`` buffer, and the forward uses the
    masked ``<name>`` attribute: that is the one yielded.
    """
    modules = dict(model.named_modules())
    for name, param in model.named_parameters():
        owner, _, attr = name.rpartition(".")
        if attr.endswith(PRUNE_SUFFIX):
            masked = getattr(modules[owner], attr[: -len(PRUNE_SUFFIX)], None)
            if isinstance(masked, Tensor) and masked.shape == param.shape:
                yield masked
                continue
        yield param
    yield from quantized_weight_tensors(model)


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared parameters once; quantized packed weights included)."""
    return sum(t.numel() for t in _effective_parameters(model))


def count_nonzero_params(model: nn.Module) -> int:
    """Number of parameters that are not exactly zero, after pruning masks are applied."""
    total = 0
    for tensor in _effective_parameters(model):
        values = tensor.dequantize() if tensor.is_quantized else tensor
        total += int(torch.count_nonzero(values.detach()))
    return total


def serialized_size_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the checkpoint a user ships."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model's inputs must have: its first floating parameter's (or buffer's), else float32.

    A float16 or bfloat16 cast model wants inputs of that dtype. A quantized
    model (dynamic or static int8) takes float32 inputs and quantizes them
    itself; its packed weights are no parameters, so it falls to float32.
    """
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


#: a floating tensor with at least this fraction of exact zeros is stored sparse by :func:`sparse_size_bytes`
SPARSE_MIN_ZEROS = 0.5


def _stored_sparse(tensor: Tensor) -> Tensor:
    """``tensor`` in CSR form with int32 indices when that is sparse enough and smaller, else as is.

    A tensor of any rank is viewed as (first dim, rest) first; its shape is the
    architecture's, so nothing is lost. COO is never chosen: its int64
    indices cost 16 bytes per nonzero against CSR's 4 (plus a row pointer).
    """
    if not tensor.is_floating_point() or tensor.layout != torch.strided or tensor.numel() == 0:
        return tensor
    if int(torch.count_nonzero(tensor)) > (1 - SPARSE_MIN_ZEROS) * tensor.numel():
        return tensor
    rows = tensor.detach().reshape(tensor.shape[0] if tensor.dim() > 1 else 1, -1)
    index = torch.int32 if tensor.numel() < 2**31 else torch.int64
    with warnings.catch_warnings():  # "sparse CSR support is in beta": storage, not compute, is asked of it
        warnings.simplefilter("ignore")
        csr = rows.to_sparse_csr()
        compact = torch.sparse_csr_tensor(csr.crow_indices().to(index), csr.col_indices().to(index),
                                          csr.values().clone(), rows.shape)
    return compact if _tensor_bytes(compact) < _tensor_bytes(tensor) else tensor


def _tensor_bytes(tensor: Tensor) -> int:
    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getbuffer().nbytes


def sparse_size_bytes(model: nn.Module) -> int:
    """Bytes of the state dict with every floating tensor that is at least half zeros stored sparse.

    The honest size of a pruned model: :func:`serialized_size_bytes` stores a
    pruned tensor dense and so saves nothing. Each tensor with at least
    ``SPARSE_MIN_ZEROS`` of exact zeros is saved in CSR form with int32
    indices (4 bytes of value and 4 of column index per nonzero, so it pays
    off above half zeros) where that is smaller; the others stay dense. Pruning masks left by ``torch.nn.utils.prune``
    are folded in (the masked weight is stored, not ``weight_orig`` and ``weight_mask``).

    >>> layer = nn.Linear(100, 100)
    >>> with torch.no_grad():
    ...     _ = layer.weight.mul_(torch.rand(100, 100) < 0.1)
    >>> sparse_size_bytes(layer) < serialized_size_bytes(layer) / 3
    True
    """
    state = _masks_folded(model)
    buffer = io.BytesIO()
    torch.save({key: _stored_sparse(value) if isinstance(value, Tensor) else value for key, value in state.items()},
               buffer)
    return buffer.getbuffer().nbytes


def _masks_folded(model: nn.Module) -> dict[str, object]:
    """``model.state_dict()`` with each pruned ``<name>_orig``/``<name>_mask`` pair replaced by the masked weight."""
    state = dict(model.state_dict())
    modules = dict(model.named_modules())
    for key in [k for k in state if k.endswith(PRUNE_SUFFIX)]:
        owner, _, attr = key.rpartition(".")
        name = attr[: -len(PRUNE_SUFFIX)]
        masked = getattr(modules[owner], name, None)
        if isinstance(masked, Tensor):
            prefix = f"{owner}." if owner else ""
            state.pop(key)
            state.pop(f"{prefix}{name}_mask", None)
            state[f"{prefix}{name}"] = masked.detach()
    return state


def flops_per_sample(model: nn.Module, example_one_sample: Tensor) -> int:
    """FLOPs of one forward on a batch of one sample, as counted by ``FlopCounterMode``.

    A multiply-add counts 2 FLOPs; only the ops torch's flop counter knows
    (matmul, linear, convolution, attention, ...) are counted, elementwise ops
    (bias add, activations, norms) are not. ``example_one_sample`` must have
    batch dimension 1. A model with quantized modules raises ``ValueError``:
    the counter has no formulas for quantized ops and would report a silent 0.
    """
    if example_one_sample.dim() == 0 or example_one_sample.shape[0] != 1:
        raise ValueError(f"flops_per_sample needs a batch of one sample, got shape {tuple(example_one_sample.shape)}")
    quantized = sorted({type(m).__name__ for m in model.modules() if _is_quantized(m)})
    if quantized:
        raise ValueError("flops not measurable: FlopCounterMode does not count quantized modules "
                         f"({', '.join(quantized)})")
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(example_one_sample)
    return int(counter.get_total_flops())
