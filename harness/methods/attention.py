"""``attention``: attention transfer (Zagoruyko & Komodakis, 2017, "Paying More Attention to Attention",
ICLR, arXiv:1612.03928).

The activation-based attention map of a feature map ``f`` of shape (C, *spatial):

    Q(f) = vec(mean_c |f_c|^p),   normalised: Q(f) / ||Q(f)||_2

and the loss, summed over the pairs j of (student layer, teacher layer):

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))
        + beta / 2 * sum_j mean((Q_s^j / ||Q_s^j||_2 - Q_t^j / ||Q_t^j||_2)^2)

This is the authors' reference implementation (github.com/szagoruyko/attention-transfer,
``at_loss``), which produced the paper's numbers: the paper writes the distance
as a p-norm and says beta = 10^3 is "divided by the number of elements in the
attention map and batch size", which is the mean over batch and positions
above; its code squares the L2 distance. ``beta`` defaults to the paper's
10^3 and ``p`` to its 2. The mean over channels (the paper sums) changes
nothing after normalisation. ``alpha = 0`` (the default) leaves out the KD
term, as in the paper's AT-only results; ``alpha > 0`` is its AT + KD.

The paper's maps have 64 to 1024 positions; on short ones the default beta
can drown the label term. Measured on MNIST-1D (cnn1d teacher (32, 32, 32) at
90%, cnn1d (8, 8, 8) students, maps of 20, 10 and 5 positions, 30 epochs,
seeds 0 and 1): beta = 1000 gave 34% and 37% test accuracy, beta = 10 gave 72%
and 73%, against 69% and 68% trained alone. Choose beta per suite.

Paired layers must give feature maps (C, *spatial) of the same spatial size;
their channel counts may differ. Layers are module paths as
``model.named_modules()`` names them, read with forward hooks; the teacher's
maps on the training set are computed once.

A suite student::

    method: {name: attention, student_layers: ["2", "5"], teacher_layers: ["2", "5"], epochs: 30}
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.methods.fitnets import layer_shape, task_loss
from harness.methods.hooks import FeatureTap
from harness.train import TrainParams, fit


class AttentionParams(TrainParams):
    student_layers: list[str] = Field(min_length=1, max_length=64)
    teacher_layers: list[str] = Field(min_length=1, max_length=64)
    beta: float = Field(1000.0, ge=0, le=1e9)
    p: int = Field(2, ge=1, le=16)
    alpha: float = Field(0.0, ge=0, le=1)
    temperature: float = Field(4.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _paired(self) -> AttentionParams:
        if len(self.student_layers) != len(self.teacher_layers):
            raise ValueError(f"student_layers and teacher_layers pair up one to one; got "
                             f"{len(self.student_layers)} and {len(self.teacher_layers)} layers")
        return self


def attention_map(features: torch.Tensor, p: int = 2) -> torch.Tensor:
    """(B, C, *spatial) -> (B, prod(spatial)): mean over channels of |f|^p, flattened, L2-normalised per sample."""
    if features.dim() < 3:
        raise HarnessError(f"attention maps need features of shape (B, C, *spatial); got {tuple(features.shape)}")
    return F.normalize(features.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_term(student_maps: list[torch.Tensor], teacher_maps: list[torch.Tensor], beta: float) -> torch.Tensor:
    """beta / 2 * sum_j mean((Q_s^j - Q_t^j)^2), on maps already normalised by :func:`attention_map`."""
    distances = [((s - t) ** 2).mean() for s, t in zip(student_maps, teacher_maps, strict=True)]
    return beta / 2 * torch.stack(distances).sum()


def _check_pair(student_shape: tuple[int, ...], teacher_shape: tuple[int, ...], student: str, teacher: str) -> None:
    for shape, side, path in ((student_shape, "student", student), (teacher_shape, "teacher", teacher)):
        if len(shape) < 2:
            raise HarnessError(f"attention: {side} layer {path!r} gives features of shape {shape}; attention "
                               "transfer needs feature maps (C, *spatial), such as a convolution's output")
    if student_shape[1:] != teacher_shape[1:]:
        raise HarnessError(f"attention: student layer {student!r} gives maps of spatial size {student_shape[1:]} "
                           f"but teacher layer {teacher!r} gives {teacher_shape[1:]}; pair layers of equal size")


@method("attention", uses_teacher=True)
def attention(ctx: BuildContext, params: AttentionParams) -> nn.Module:
    """Attention transfer: match the spatial attention maps of paired layers (Zagoruyko & Komodakis 2017)."""
    if ctx.teacher is None:
        raise HarnessError(f"{ctx.name}: attention needs a teacher")
    sample = ctx.data.x_train[:1]
    pairs = list(zip(params.student_layers, params.teacher_layers, strict=True))
    for student, teacher in pairs:
        _check_pair(layer_shape(ctx.model, student, sample, "attention student_layers"),
                    layer_shape(ctx.teacher, teacher, sample, "attention teacher_layers"), student, teacher)
    teacher_maps = [attention_map(ctx.teacher_features(teacher), params.p) for _, teacher in pairs]
    task = task_loss(ctx, params.temperature, params.alpha)
    with contextlib.ExitStack() as stack:
        taps = [stack.enter_context(FeatureTap(ctx.model, student)) for student, _ in pairs]

        def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
            student_maps = [attention_map(tap.output, params.p) for tap in taps if tap.output is not None]
            transfer = attention_term(student_maps, [t[indices] for t in teacher_maps], params.beta)
            return task(logits, labels, indices) + transfer

        return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, loss_fn=loss, desc=ctx.name)
