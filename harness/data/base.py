"""The dataset contract and registry.

A dataset is a callable registered in :data:`DATASETS` that takes ``seed``
(and its own keyword parameters, validated from its signature) and returns a
:class:`Dataset` of tensors already split into train and test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors: ``x`` float32 of shape (N, *input_shape), ``y`` int64 class ids."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


DATASETS: Registry = Registry("dataset")
