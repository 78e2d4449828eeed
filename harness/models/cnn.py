"""Plain convolutional networks for sequences (``cnn1d``) and images (``cnn2d``).

Each stage is ``Conv(stride) -> BatchNorm (optional) -> ReLU``; the head either
flattens the last feature map (keeps position, the default) or averages it
globally (``head: avgpool``, translation invariant), then applies a linear layer.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, PositiveInt
from torch import nn

from harness.errors import HarnessError
from harness.models.base import ARCHITECTURES

Head = Literal["flatten", "avgpool"]
Channels = Annotated[tuple[PositiveInt, ...], Field(min_length=1)]


def conv_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Spatial size after a convolution padded by ``kernel_size // 2`` (never below 1)."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1


def _conv_net(
    dims: int,
    input_shape: tuple[int, ...],
    num_classes: int,
    channels: tuple[int, ...],
    kernel_size: int,
    stride: int,
    batch_norm: bool,
    head: Head,
    dropout: float,
) -> nn.Sequential:
    """The network shared by ``cnn1d`` (``dims=1``) and ``cnn2d`` (``dims=2``)."""
    conv, norm = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
    in_channels, sizes = input_shape[0], list(input_shape[1:])
    layers: list[nn.Module] = []
    for out in channels:
        padding = kernel_size // 2
        layers.append(conv(in_channels, out, kernel_size, stride, padding, bias=not batch_norm))
        if batch_norm:
            layers.append(norm(out))
        layers.append(nn.ReLU())
        in_channels, sizes = out, [conv_output_size(s, kernel_size, stride) for s in sizes]
    if head == "avgpool":
        layers += [nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        features = in_channels
    else:
        layers.append(nn.Flatten())
        features = in_channels * math.prod(sizes)
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


@ARCHITECTURES.register("cnn1d")
def cnn1d(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    channels: Channels = (32, 32, 32),
    kernel_size: PositiveInt = 5,
    stride: PositiveInt = 2,
    batch_norm: bool = True,
    head: Head = "flatten",
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
) -> nn.Module:
    """A 1-D CNN for input of shape (channels, length).

    >>> import torch
    >>> cnn1d((1, 40), 10)(torch.zeros(2, 1, 40)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) != 2:
        raise HarnessError(f"cnn1d expects input of shape (channels, length); got {tuple(input_shape)}")
    return _conv_net(1, input_shape, num_classes, channels, kernel_size, stride, batch_norm, head, dropout)


@ARCHITECTURES.register("cnn2d")
def cnn2d(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    channels: Channels = (32, 64),
    kernel_size: PositiveInt = 3,
    stride: PositiveInt = 2,
    batch_norm: bool = True,
    head: Head = "flatten",
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
) -> nn.Module:
    """A 2-D CNN for input of shape (channels, height, width).

    >>> import torch
    >>> cnn2d((1, 28, 28), 10)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise HarnessError(f"cnn2d expects input of shape (channels, height, width); got {tuple(input_shape)}")
    return _conv_net(2, input_shape, num_classes, channels, kernel_size, stride, batch_norm, head, dropout)
