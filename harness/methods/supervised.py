"""``train`` and ``scratch``: a model trained from the labels alone.

``train`` makes the teacher; ``scratch`` makes a student with no teacher, the
baseline that shows what distillation adds (or does not).
"""

from __future__ import annotations

from torch import nn

from harness.methods.base import BuildContext, method
from harness.train import TrainParams, fit


@method("train")
def train(ctx: BuildContext, params: TrainParams) -> nn.Module:
    """Supervised training with cross-entropy on the labels."""
    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, desc=ctx.name)


@method("scratch")
def scratch(ctx: BuildContext, params: TrainParams) -> nn.Module:
    """The student trained alone from the labels: the baseline for every distillation method."""
    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, desc=ctx.name)


@method("as_is")
def as_is(ctx: BuildContext) -> nn.Module:
    """The model as it is: a student loaded from its own checkpoint and measured without changes."""
    return ctx.model
