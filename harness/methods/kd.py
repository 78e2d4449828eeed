"""``kd``: knowledge distillation (Hinton, Vinyals & Dean, 2015, arXiv:1503.02531).

    L = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)

The T^2 factor keeps the soft term's gradients on the scale of the hard
term's as T changes. The teacher's logits on the training set are computed
once and reused for every epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness.methods.base import BuildContext, method
from harness.train import TrainParams, fit


class KDParams(TrainParams):
    temperature: float = Field(4.0, gt=0, le=1000)
    alpha: float = Field(0.9, ge=0, le=1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """The Hinton et al. loss, averaged over the batch."""
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * t * t * soft + (1 - alpha) * hard


@method("kd", uses_teacher=True)
def kd(ctx: BuildContext, params: KDParams) -> nn.Module:
    """Knowledge distillation from the teacher's softened logits (Hinton et al. 2015)."""
    teacher_logits = ctx.teacher_logits()

    def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, teacher_logits[indices], labels, params.temperature, params.alpha)

    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, loss_fn=loss, desc=ctx.name)
