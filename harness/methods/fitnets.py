"""``fitnets``: hint-based feature distillation (Romero et al., 2015, "FitNets: Hints for Thin Deep Nets",
ICLR, arXiv:1412.6550).

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))
        + beta * mean((r(f_s) - f_t)^2)

``f_s`` is the output of the student's module ``student_layer`` (the paper's
guided layer), ``f_t`` that of the teacher's ``teacher_layer`` (the hint); both
are module paths as ``model.named_modules()`` names them and are read with
forward hooks, so model code is never changed. The teacher's features on the
training set are computed once and shared. ``r`` is a learned regressor,
trained with the student and discarded afterwards:

- a 1x1 convolution (a Linear over channels at every position) when both
  features are maps ``(C, *spatial)`` of the same spatial shape, as in the paper;
- otherwise flatten + Linear from the student's feature size to the
  teacher's, which fits any pair of shapes.

Differences from the paper, on purpose: one stage with the joint loss above
(the paper first trains the student up to the guided layer on the hint alone,
then the whole student with KD), as in the FitNets baselines of Tian et al.
(2020, CRD); the hint term is the mean squared error per element rather than
half the squared norm, so ``beta`` does not scale with the feature size. With
``alpha = 0`` (the default) the KD term vanishes and the teacher's logits are
never computed.

A suite student::

    method: {name: fitnets, student_layer: "2", teacher_layer: "2", beta: 1.0, epochs: 30}
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.methods.hooks import FeatureTap
from harness.methods.kd import kd_loss
from harness.train import LossFn, TrainParams, fit


class FitNetsParams(TrainParams):
    student_layer: str = Field(min_length=1)
    teacher_layer: str = Field(min_length=1)
    beta: float = Field(1.0, ge=0, le=1e6)
    alpha: float = Field(0.0, ge=0, le=1)
    temperature: float = Field(4.0, gt=0, le=1000)


def layer_shape(model: nn.Module, path: str, sample: torch.Tensor, what: str) -> tuple[int, ...]:
    """The shape (less the batch) of the output of ``model``'s submodule ``path``, by one dry forward
    of ``sample`` in eval mode; a one-line HarnessError naming ``what`` if there is no such module."""
    try:
        tap = FeatureTap(model, path)
    except HarnessError as exc:
        raise HarnessError(f"{what}: {exc}") from None
    was_training = model.training
    with tap, torch.inference_mode():
        model.eval()
        model(sample)
    model.train(was_training)
    if not isinstance(tap.output, torch.Tensor):
        raise HarnessError(f"{what}: module {path!r} returns {type(tap.output).__name__}, not a tensor")
    return tuple(tap.output.shape[1:])


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` with its initialisation drawn from ``seed``, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def task_loss(ctx: BuildContext, temperature: float, alpha: float) -> LossFn:
    """The logit term: cross-entropy alone when ``alpha`` is 0, else :func:`kd_loss` on the teacher's logits."""
    if alpha == 0:
        return lambda logits, labels, _indices: F.cross_entropy(logits, labels)
    teacher_logits = ctx.teacher_logits()
    return lambda logits, labels, indices: kd_loss(logits, teacher_logits[indices], labels, temperature, alpha)


class ChannelRegressor(nn.Module):
    """A 1x1 convolution over any number of spatial dimensions: (B, C_in, *S) -> (B, C_out, *S)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.movedim(1, -1)).movedim(-1, 1)


def make_regressor(student_shape: tuple[int, ...], teacher_shape: tuple[int, ...]) -> nn.Module:
    """The map from student features to teacher features (shapes without the batch)."""
    if len(student_shape) >= 2 and student_shape[1:] == teacher_shape[1:]:
        return ChannelRegressor(student_shape[0], teacher_shape[0])
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(student_shape), math.prod(teacher_shape)),
                         nn.Unflatten(1, teacher_shape))


def hint_loss(regressor: nn.Module, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """mean((r(f_s) - f_t)^2) over the batch and every feature element."""
    return F.mse_loss(regressor(student_features), teacher_features)


@method("fitnets", uses_teacher=True)
def fitnets(ctx: BuildContext, params: FitNetsParams) -> nn.Module:
    """Hints: a student layer regresses onto a teacher layer through a learned regressor (Romero et al. 2015)."""
    if ctx.teacher is None:
        raise HarnessError(f"{ctx.name}: fitnets needs a teacher")
    sample = ctx.data.x_train[:1]
    student_shape = layer_shape(ctx.model, params.student_layer, sample, "fitnets student_layer")
    teacher_shape = layer_shape(ctx.teacher, params.teacher_layer, sample, "fitnets teacher_layer")
    teacher_features = ctx.teacher_features(params.teacher_layer)
    regressor = seeded(ctx.seed, lambda: make_regressor(student_shape, teacher_shape))
    task = task_loss(ctx, params.temperature, params.alpha)
    with FeatureTap(ctx.model, params.student_layer) as tap:

        def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
            assert tap.output is not None
            hint = hint_loss(regressor, tap.output, teacher_features[indices])
            return task(logits, labels, indices) + params.beta * hint

        return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, loss_fn=loss, desc=ctx.name,
                   extra=(regressor,))
