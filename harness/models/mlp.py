"""A multilayer perceptron over any input shape (flattened)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, PositiveInt
from torch import nn

from harness.errors import HarnessError
from harness.models.base import ARCHITECTURES


@ARCHITECTURES.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    hidden: tuple[PositiveInt, ...] = (128,),
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
) -> nn.Module:
    """Flatten, then ``Linear -> ReLU (-> Dropout)`` per hidden width, then a linear head.

    ``hidden=()`` is multinomial logistic regression.

    >>> import torch
    >>> mlp((1, 8, 8), 10, hidden=(32,))(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) == 0:
        raise HarnessError("mlp expects an input of at least one dimension; got ()")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for out in hidden:
        layers += [nn.Linear(width, out), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = out
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
