"""A small ResNet (basic blocks) for images of shape (channels, height, width).

A 3x3 stem, then one stage per entry of ``blocks``; each stage doubles the
width of the previous one and halves the resolution (the first keeps it),
then global average pooling and a linear head. ``width=16, blocks=(1, 1, 1)``
is a ResNet-8 in the CIFAR style (about 78k parameters).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PositiveInt
from torch import Tensor, nn

from harness.errors import HarnessError
from harness.models.base import ARCHITECTURES


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        shortcut: Tensor = self.shortcut(x)
        return (out + shortcut).relu()


@ARCHITECTURES.register("resnet")
def resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    width: PositiveInt = 16,
    blocks: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (1, 1, 1),
) -> nn.Module:
    """A ResNet with ``len(blocks)`` stages of ``blocks[i]`` basic blocks each.

    >>> import torch
    >>> resnet((1, 8, 8), 10)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise HarnessError(f"resnet expects input of shape (channels, height, width); got {tuple(input_shape)}")
    layers: list[nn.Module] = [
        nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    in_channels = width
    for stage, count in enumerate(blocks):
        out_channels = width * 2**stage
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(BasicBlock(in_channels, out_channels, stride))
            in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
    return nn.Sequential(*layers)
