"""``precision``: the model cast to half precision, float16 or bfloat16 (Micikevicius et al., 2018,
arXiv:1710.03740, for what 16-bit floats keep and lose).

Every floating parameter and buffer becomes 2 bytes instead of 4; the
arithmetic runs in that dtype too, so inputs must be cast to it
(:func:`harness.measure.size.model_dtype` says which). float16 keeps 10
mantissa bits and a range up to 65504; bfloat16 keeps float32's range with
7 mantissa bits. Nothing is trained.

A dry forward on a few training samples, on CPU, checks that every op of
the model exists for the dtype there and that the logits stay finite; if
not, :class:`HarnessError` names the dtype and the failing op, and the
runner records it as the student's failure.

>>> import torch
>>> from torch import nn
>>> half_precision(nn.Sequential(nn.Linear(4, 2)), "bfloat16", torch.zeros(3, 4))[0].weight.dtype
torch.bfloat16
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method

HalfDtype = Literal["float16", "bfloat16"]
DRY_RUN_SAMPLES = 8


class PrecisionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dtype: HalfDtype


def half_precision(model: nn.Module, dtype: HalfDtype, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` cast to ``dtype``, checked by a forward on ``example`` (cast likewise) on CPU."""
    target = getattr(torch, dtype)
    if any(".quantized" in type(m).__module__ for m in model.modules()):
        raise HarnessError(f"{dtype}: the model is int8-quantized; cast to {dtype} before quantizing")
    cast = copy.deepcopy(model).to(target).eval()
    try:
        with torch.inference_mode():
            logits = cast(example.to(target))
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"{dtype} is not supported on CPU for this model: {reason}") from None
    if not torch.isfinite(logits).all():
        raise HarnessError(f"{dtype}: the model's logits overflow (inf or nan) in {dtype}")
    return cast


@method("precision")
def precision(ctx: BuildContext, params: PrecisionParams) -> nn.Module:
    """Cast to float16 or bfloat16, checked on CPU with a forward on a few training samples."""
    return half_precision(ctx.model, params.dtype, ctx.data.x_train[:DRY_RUN_SAMPLES])
