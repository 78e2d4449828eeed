"""The one training loop every method shares.

>>> import torch
>>> from harness.train import TrainParams, fit
>>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
>>> model = fit(torch.nn.Linear(4, 2), x, y, TrainParams(epochs=2, batch_size=16), seed=0)
>>> model.training
False
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

#: loss(logits, labels, indices into the training set) -> scalar
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class TrainParams(BaseModel):
    """A training recipe: AdamW (or SGD with momentum), cosine or constant schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    epochs: int = Field(30, ge=1, le=100_000)
    lr: float = Field(1e-3, gt=0, le=10)
    batch_size: int = Field(64, ge=1, le=1 << 20)
    weight_decay: float = Field(0.01, ge=0, le=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = Field(0.9, ge=0, lt=1)
    schedule: Literal["cosine", "constant"] = "cosine"


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, _indices: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def optimizer_and_schedule(parameters: list[nn.Parameter], params: TrainParams, steps: int,
                           ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The recipe's optimizer, and its learning-rate schedule over ``steps`` optimizer steps."""
    optimizer: torch.optim.Optimizer
    if params.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=params.lr, momentum=params.momentum,
                                    weight_decay=params.weight_decay)
    else:
        optimizer = torch.optim.AdamW(parameters, lr=params.lr, weight_decay=params.weight_decay)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
                if params.schedule == "cosine" else torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0))
    return optimizer, schedule


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: TrainParams, seed: int,
        loss_fn: LossFn = cross_entropy, desc: str = "train", extra: tuple[nn.Module, ...] = ()) -> nn.Module:
    """Train ``model`` in place on tensors ``x``, ``y``; return it in eval mode.

    ``extra`` modules (a distillation regressor, say) are trained alongside
    by the same optimizer and, like the model, left in eval mode.
    Deterministic for a given seed and thread count: the shuffling comes from
    a generator seeded with ``seed``. A trailing batch of one sample is
    skipped (batch norm cannot train on it).
    """
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    for module in extra:
        module.train()
    n = len(x)
    steps = params.epochs * math.ceil(n / params.batch_size)
    optimizer, schedule = optimizer_and_schedule([p for m in (model, *extra) for p in m.parameters()], params, steps)
    model.train()
    bar = tqdm(range(params.epochs), desc=desc, unit="epoch", leave=False, disable=None)
    for _ in bar:
        order = torch.randperm(n, generator=shuffle)
        for start in range(0, n, params.batch_size):
            batch = order[start:start + params.batch_size]
            if len(batch) < 2 <= n:
                continue
            loss = loss_fn(model(x[batch]), y[batch], batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    for module in extra:
        module.eval()
    return model.eval()


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Float32 outputs (logits, or embeddings) of ``model`` on ``x`` in eval mode, computed in batches; a float
    input is cast to the model's dtype (a float16 model gets float16 inputs), token ids are left as they are."""
    from harness.measure.size import model_dtype

    model.eval()
    dtype = model_dtype(model)
    if not x.is_floating_point():  # token ids stay integers
        dtype = x.dtype
    return torch.cat([torch.as_tensor(model(x[i:i + batch_size].to(dtype))).float()
                      for i in range(0, len(x), batch_size)])
