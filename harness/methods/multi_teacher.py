"""``multi_teacher``: distillation from several teachers' combined logits (Hinton, Vinyals & Dean, 2015,
arXiv:1503.02531, section 2: an ensemble's mean prediction as the soft target; You et al., 2017,
"Learning from Multiple Teacher Networks", KDD).

    z_t = sum_i w_i z_i / sum_i w_i
    L   = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)

``z_i``: the logits on the training set of the model named ``teachers[i]``,
any model already built in this seed (the suite's teacher under its name,
students listed before this one); by default the suite's teacher alone, which
is plain ``kd``. ``weights``: non-negative, normalised to sum to 1; none means
the plain average. A weighted mean of logits is a weighted geometric mean of
the teachers' softened distributions: softmax(z_t / T) is proportional to
prod_i softmax(z_i / T)^(w_i / sum w). Each teacher's logits are computed once
per seed and shared.

A suite student distilling from the teacher and an earlier student::

    method: {name: multi_teacher, teachers: [teacher, kd-16], weights: [2, 1], epochs: 30}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field, model_validator
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.methods.kd import KDParams, kd_loss
from harness.train import fit, predict_logits


class MultiTeacherParams(KDParams):
    teachers: list[str] | None = Field(None, min_length=1, max_length=64)
    weights: list[Annotated[float, Field(ge=0, le=1e6)]] | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _weights_fit(self) -> MultiTeacherParams:
        if self.weights is None:
            return self
        count = len(self.teachers) if self.teachers is not None else 1
        if len(self.weights) != count:
            raise ValueError(f"weights gives {len(self.weights)} values for {count} teacher(s); give one per teacher")
        if sum(self.weights) <= 0:
            raise ValueError(f"weights must have a positive sum; got {self.weights}")
        return self


def combine_logits(logits: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """sum_i w_i z_i / sum_i w_i (the plain mean when ``weights`` is None).

    >>> combine_logits([torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, 4.0]])], [3, 1])
    tensor([[1.5000, 1.0000]])
    """
    stacked = torch.stack(list(logits))
    w = torch.ones(len(logits)) if weights is None else torch.tensor(list(weights), dtype=torch.float64)
    w = (w / w.sum()).to(stacked.dtype)
    return torch.tensordot(w, stacked, dims=1)


def _logits_of(ctx: BuildContext, name: str) -> torch.Tensor:
    if name not in ctx.models:
        known = ", ".join(sorted(ctx.models)) or "none"
        raise HarnessError(f"{ctx.name}: multi_teacher: no model {name!r} built before this one (models: {known})")
    model = ctx.models[name]
    if model is ctx.teacher:
        return ctx.teacher_logits()
    return ctx.outputs.get(f"logits:{name}:seed{ctx.seed}", lambda: predict_logits(model, ctx.data.x_train))


@method("multi_teacher", uses_teacher=True, uses_models=True)
def multi_teacher(ctx: BuildContext, params: MultiTeacherParams) -> nn.Module:
    """KD from the weighted mean of several built models' logits (Hinton et al. 2015; You et al. 2017)."""
    parts = [ctx.teacher_logits()] if params.teachers is None else [_logits_of(ctx, n) for n in params.teachers]
    expected = (len(ctx.data.x_train), ctx.data.num_classes)
    for name, z in zip(params.teachers or ["teacher"], parts, strict=True):
        if tuple(z.shape) != expected:
            raise HarnessError(f"{ctx.name}: multi_teacher: {name!r} gives logits of shape {tuple(z.shape)}, "
                               f"expected {expected}")
    target = combine_logits(parts, params.weights)

    def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, target[indices], labels, params.temperature, params.alpha)

    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, loss_fn=loss, desc=ctx.name)
