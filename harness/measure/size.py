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
