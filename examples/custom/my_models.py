"""Your own code in a suite: an architecture and a dataset, named ``my_models:wide_mlp`` and
``my_models:breast_cancer``. Nothing here is registered with the harness; the suite's folder is on the
import path when it runs (so is PYTHONPATH).

An architecture is a callable ``(input_shape, num_classes, **params) -> nn.Module`` that maps a float batch
(B, *input_shape) to logits (B, num_classes). A dataset is a callable ``(*, seed, **params) -> Dataset``
(train and test tensors). The keyword parameters, with their type hints and defaults, are what the suite
may set: ``harness validate`` checks them before anything runs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.data import Dataset


def wide_mlp(input_shape: tuple[int, ...], num_classes: int, width: int = 64, depth: int = 2) -> nn.Module:
    """``depth`` hidden layers of ``width`` units with ReLU."""
    features = int(np.prod(input_shape))
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def breast_cancer(*, seed: int, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's breast cancer data (569 real samples, 30 features, 2 classes), standardised on the
    training split, split stratified by ``seed``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                                        stratify=y)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    return Dataset(
        name="breast_cancer",
        x_train=torch.tensor((x_train - mean) / std, dtype=torch.float32),
        y_train=torch.tensor(y_train, dtype=torch.int64),
        x_test=torch.tensor((x_test - mean) / std, dtype=torch.float32),
        y_test=torch.tensor(y_test, dtype=torch.int64),
        num_classes=2,
    )
