"""``channel_prune``: structured pruning that removes whole units and channels (Li et al., 2017,
"Pruning Filters for Efficient ConvNets", arXiv:1608.08710).

Each hidden Linear unit or Conv channel j of a layer is scored by the L1
norm of its weights, s_j = sum_i |W[j, i, ...]|; the round(ratio * out)
lowest-scoring ones (at least one is always kept) are removed, together with
their bias, their BatchNorm entries and the matching input columns of the
next Linear or Conv. The layers really shrink: the result is a new, smaller
``nn.Sequential`` with the surviving weights copied, so ``params``,
``size_bytes``, FLOPs and latency all drop. Layers are pruned front to back,
each scored after its inputs were pruned (the greedy strategy of Li et al.,
section 3.3). The final classifier's outputs are never pruned.

Supported: an ``nn.Sequential`` of Linear, Conv1d/2d/3d (groups=1),
BatchNorm, element-wise activations, Dropout, pooling, Identity and
Flatten; a Flatten between a conv and a Linear makes the Linear's input
columns come in channel-major groups of the spatial size, removed group by
group. Residual blocks and other containers raise :class:`HarnessError`.

Recovery fine-tuning is as in ``prune`` (``epochs``, default 0; ``distill``).

>>> from torch import nn
>>> from harness.measure.size import count_params
>>> small = shrink_sequential(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), ratio=0.25)
>>> small
Sequential(
  (0): Linear(in_features=8, out_features=12, bias=True)
  (1): ReLU()
  (2): Linear(in_features=12, out_features=3, bias=True)
)
>>> count_params(small)
147
"""

from __future__ import annotations

import copy
import typing

import torch
from pydantic import Field
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.methods.prune import RecoveryParams, recover

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
Weighted = nn.Linear | _ConvNd
#: modules that act on each channel alone, so removing a channel before them removes it after them too
_PER_CHANNEL = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish,
    nn.Mish, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
SUPPORTED = ("an nn.Sequential of Linear, Conv1d/2d/3d (groups=1), BatchNorm, element-wise activations, Dropout, "
             "pooling, Identity and Flatten(start_dim=1)")


class ChannelPruneParams(RecoveryParams):
    ratio: float = Field(gt=0, lt=1)


def _unsupported(what: str) -> HarnessError:
    return HarnessError(f"channel_prune: {what}; supported: {SUPPORTED}")


def _check(model: nn.Module) -> list[nn.Module]:
    if type(model) is not nn.Sequential:
        raise _unsupported(f"the model is a {type(model).__name__}")
    layers = list(model)
    for index, layer in enumerate(layers):
        ok = isinstance(layer, (*_WEIGHTED, *_NORMS, *_PER_CHANNEL)) or (
            isinstance(layer, nn.Flatten) and layer.start_dim == 1)
        if not ok:
            raise _unsupported(f"layer {index} is a {type(layer).__name__}")
        if isinstance(layer, _WEIGHTED[1:]) and layer.groups != 1:
            raise _unsupported(f"layer {index} is a grouped {type(layer).__name__}")
    return layers


def _keep(layer: Weighted, ratio: float) -> torch.Tensor:
    """Sorted indices of the output units/channels with the largest L1 norms."""
    weight = layer.weight.detach()
    scores = weight.abs().reshape(weight.shape[0], -1).sum(dim=1)
    count = max(1, weight.shape[0] - round(ratio * weight.shape[0]))
    return torch.topk(scores, count).indices.sort().values


def _param(tensor: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor.detach().clone())


def _shrink_outputs(layer: Weighted, keep: torch.Tensor) -> None:
    layer.weight = _param(layer.weight[keep])
    if layer.bias is not None:
        layer.bias = _param(layer.bias[keep])
    if isinstance(layer, nn.Linear):
        layer.out_features = len(keep)
    else:
        layer.out_channels = len(keep)


def _shrink_norm(norm: _BatchNorm, keep: torch.Tensor, channels: int) -> None:
    if norm.num_features != channels:
        raise _unsupported(f"a {type(norm).__name__}({norm.num_features}) follows {channels} channels")
    if norm.affine:
        norm.weight, norm.bias = _param(norm.weight[keep]), _param(norm.bias[keep])
    if norm.running_mean is not None and norm.running_var is not None:
        norm.running_mean = norm.running_mean[keep].clone()
        norm.running_var = norm.running_var[keep].clone()
    norm.num_features = len(keep)


def _shrink_inputs(layer: Weighted, keep: torch.Tensor, channels: int, index: int) -> None:
    """Keep the input columns of ``layer`` that read the kept channels (``channels`` before pruning)."""
    if isinstance(layer, nn.Linear):
        group, rest = divmod(layer.in_features, channels)
        if rest:
            raise _unsupported(f"layer {index} has {layer.in_features} inputs, not a multiple of the "
                               f"{channels} channels before it")
        columns = (keep[:, None] * group + torch.arange(group)).reshape(-1)  # Flatten is channel-major
        layer.weight = _param(layer.weight[:, columns])
        layer.in_features = len(columns)
    else:
        if layer.in_channels != channels:
            raise _unsupported(f"layer {index} takes {layer.in_channels} channels, not the {channels} before it")
        layer.weight = _param(layer.weight[:, keep])
        layer.in_channels = len(keep)


def _check_pair(layer: Weighted, between: list[nn.Module], following: Weighted, index: int) -> None:
    """A conv feeds a Linear only through a Flatten; a Linear feeds only a Linear."""
    if isinstance(layer, nn.Linear) and not isinstance(following, nn.Linear):
        raise _unsupported(f"layer {index} is a {type(following).__name__} after a Linear")
    flattened = any(isinstance(module, nn.Flatten) for module in between)
    if not isinstance(layer, nn.Linear) and isinstance(following, nn.Linear) and not flattened:
        raise _unsupported(f"layer {index} is a Linear on a conv's output with no Flatten before it")


def shrink_sequential(model: nn.Module, ratio: float) -> nn.Sequential:
    """A copy of ``model`` with ``ratio`` of every hidden layer's lowest-L1 units/channels removed."""
    layers = _check(copy.deepcopy(model))
    weighted = [i for i, layer in enumerate(layers) if isinstance(layer, _WEIGHTED)]
    for current, following in zip(weighted, weighted[1:], strict=False):
        layer, nxt = typing.cast(Weighted, layers[current]), typing.cast(Weighted, layers[following])
        between = layers[current + 1:following]
        _check_pair(layer, between, nxt, following)
        channels = int(layer.weight.shape[0])
        keep = _keep(layer, ratio)
        _shrink_outputs(layer, keep)
        for norm in between:
            if isinstance(norm, _BatchNorm):
                _shrink_norm(norm, keep, channels)
        _shrink_inputs(nxt, keep, channels, following)
    return nn.Sequential(*layers).eval()


@method("channel_prune", uses_teacher=lambda params: params.distill)
def channel_prune(ctx: BuildContext, params: ChannelPruneParams) -> nn.Module:
    """Structured pruning: remove the lowest-L1 units/channels of each hidden layer (Li et al. 2017).

    It reads the teacher only with ``distill: true``; without it, it works
    (and is cached) without one.
    """
    small = shrink_sequential(ctx.model, params.ratio)
    return recover(ctx, small, params)
