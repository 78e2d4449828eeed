"""``embed_distill``: a student learns to reproduce the teacher's embeddings (no labels).

The loss per batch is ``1 - cos(student, teacher)`` averaged over the batch
(``loss: cosine``, the default: direction is what cosine retrieval uses) or
the mean squared error between the vectors (``loss: mse``), as in
DistilBERT's cosine loss and the MSE distillation of sentence-transformers
(Reimers & Gurevych, 2020, arXiv:2004.09813). The teacher's embeddings of the
training set are computed once (:meth:`BuildContext.teacher_logits`) and
shared by every student and seed. The student and the teacher must output
vectors of the same size.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.registry import did_you_mean
from harness.train import TrainParams, fit


class EmbedDistillParams(TrainParams):
    loss: Literal["cosine", "mse"] = "cosine"
    #: parameters whose names start with one of these stay as they are (``[encoder.embeddings]``: the student keeps
    #: the teacher's token embeddings, and training skips the largest tensor's gradient and optimizer state)
    freeze: list[str] = []


def freeze(model: nn.Module, prefixes: tuple[str, ...]) -> int:
    """Stop gradients to every parameter whose name starts with one of ``prefixes``; return how many tensors.

    >>> freeze(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), ("0.",))
    2
    >>> freeze(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), ("2.weight",))
    Traceback (most recent call last):
    harness.errors.HarnessError: freeze ['2.weight']: no parameter name starts with these (the model's start with \
0.bias, 0.weight, 1.bias, 1.weight; did you mean 1.weight?)
    """
    frozen = 0
    for name, parameter in model.named_parameters():
        if name.startswith(prefixes):
            parameter.requires_grad_(False)
            frozen += 1
    if prefixes and not frozen:
        names = [name for name, _ in model.named_parameters()]
        modules = sorted({".".join(name.split(".")[:2]) for name in names})
        raise HarnessError(f"freeze {list(prefixes)}: no parameter name starts with these (the model's start with "
                           f"{', '.join(modules[:8])}{', ...' if len(modules) > 8 else ''}"
                           f"{did_you_mean(prefixes[0], modules)})")
    return frozen


def embedding_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    """``1 - cosine`` or the mean squared error, averaged over the batch.

    >>> a = torch.tensor([[1.0, 0.0]]); b = torch.tensor([[0.0, 2.0]])
    >>> float(embedding_loss(a, b, "cosine")), float(embedding_loss(a, b, "mse"))
    (1.0, 2.5)
    """
    if kind == "cosine":
        return (1 - F.cosine_similarity(student, teacher, dim=1)).mean()
    return F.mse_loss(student, teacher)


@method("embed_distill", uses_teacher=True)
def embed_distill(ctx: BuildContext, params: EmbedDistillParams) -> nn.Module:
    """The student fitted to the teacher's embeddings of the training inputs (cosine or MSE)."""
    targets = ctx.teacher_logits()
    with torch.no_grad():
        width = ctx.model.eval()(ctx.data.x_train[:2]).shape[-1]
    if width != targets.shape[-1]:
        raise HarnessError(f"{ctx.name}: the student outputs {width} values, the teacher {targets.shape[-1]}")
    freeze(ctx.model, tuple(params.freeze))
    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed,
               loss_fn=lambda out, _labels, index: embedding_loss(out, targets[index], params.loss), desc=ctx.name)
