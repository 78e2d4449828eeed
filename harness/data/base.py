"""The dataset contract and registry.

A dataset is a callable registered in :data:`DATASETS` that takes ``seed``
(and its own keyword parameters, validated from its signature) and returns a
:class:`Dataset` of tensors already split into train and test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import torch

from harness.errors import HarnessError
from harness.registry import Registry, params_model


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors: ``x`` float32 of shape (N, *input_shape), ``y`` int64 class ids.

    ``task`` says what the models output and how quality is measured:
    ``classification`` (logits over ``num_classes``; accuracy, agreement and
    KL to the teacher) or ``embedding`` (one vector per input, ``y`` unused;
    cosine similarity to the teacher's vectors and neighbour recall). Text
    datasets hold int64 token ids padded with 0 and set ``token_range``: the
    ids that timing inputs are drawn from, ``[low, high)``. ``x_transfer``
    holds unlabeled inputs from the training distribution, if the dataset
    makes them (MNIST-1D's generator makes as many as asked).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    task: Literal["classification", "embedding"] = "classification"
    token_range: tuple[int, int] | None = None
    #: extra unlabeled training inputs (a transfer set): a teacher labels them for the methods that distil
    #: on them (``function_matching``); None when the dataset has none
    x_transfer: torch.Tensor | None = None
    #: what the dataset learned from its data, as JSON-native values, for the manifest and the report (the
    #: ``table`` dataset's class of each id, feature names, standardisation statistics); empty when none
    info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


DATASETS: Registry = Registry("dataset")


def dataset_params(fn: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """The parameters a suite gives dataset ``fn``: its keywords, less the split ``seed`` (``dataset.seed``)."""
    return params_model(fn, skip=("seed",))


def two_classes_at_least(path: Path | str, target: str, labels: Sequence[Any]) -> None:
    """A classifier's target must hold two classes: else one line naming the file, the target and what it holds.

    >>> two_classes_at_least("t.csv", "label", ["x"])
    Traceback (most recent call last):
    harness.errors.HarnessError: t.csv: target 'label' has 1 class ('x'): a classifier needs at least two
    """
    if len(labels) < 2:
        raise HarnessError(f"{path}: target {target!r} has {len(labels)} class{'' if len(labels) == 1 else 'es'} "
                           f"({', '.join(map(repr, labels))}): a classifier needs at least two")
