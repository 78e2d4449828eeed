"""``prune``: unstructured magnitude pruning (Han, Pool, Tran & Dally, 2015, arXiv:1506.02626).

The weights of smallest magnitude are set to zero until a fraction
``sparsity`` of them is zero:

    mask_i = 0  for the round(sparsity * n) weights with the smallest |w_i|, else 1

``scope: global`` ranks every weight of the pruned layers together (layers
that matter less give up more); ``scope: layer`` prunes each layer to
``sparsity`` on its own. Only the ``weight`` of Linear and Conv layers is
pruned (biases are a rounding error of the count and Han et al. keep them).
Recovery fine-tuning (``epochs > 0``) trains with the masks in place, so
pruned weights stay exactly zero; the masks are then made permanent. With
``distill: true`` it fine-tunes on the KD loss against the teacher instead of
the labels alone.

A pruned tensor is still stored dense: ``params_nonzero`` and
:func:`harness.measure.size.sparse_size_bytes` show what pruning saved,
``params`` and ``size_bytes`` do not change.

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))
>>> magnitude_prune(model, sparsity=0.5, scope="global", layers="all")
65
>>> sum(int((m.weight == 0).sum()) for m in (model[0], model[2]))
65
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils import prune as torch_prune

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.methods.kd import kd_loss
from harness.train import LossFn, TrainParams, cross_entropy, fit

LayerKind = Literal["linear", "conv", "all"]
_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "linear": (nn.Linear,),
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "all": (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d),
}


class RecoveryParams(TrainParams):
    """Recovery fine-tuning after pruning: a training recipe whose ``epochs`` default to 0 (none).

    ``distill: true`` fine-tunes on the KD loss (``temperature``, ``alpha`` as
    in ``kd``) against the teacher's logits instead of on the labels alone.
    """

    epochs: int = Field(0, ge=0, le=100_000)
    distill: bool = False
    temperature: float = Field(4.0, gt=0, le=1000)
    alpha: float = Field(0.9, ge=0, le=1)


class PruneParams(RecoveryParams):
    sparsity: float = Field(gt=0, lt=1)
    scope: Literal["global", "layer"] = "global"
    layers: LayerKind = "all"


def recovery_loss(ctx: BuildContext, params: RecoveryParams) -> LossFn:
    """Cross-entropy on the labels, or with ``distill`` the KD loss against the teacher's logits."""
    if not params.distill:
        return cross_entropy
    teacher_logits = ctx.teacher_logits()

    def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, teacher_logits[indices], labels, params.temperature, params.alpha)

    return loss


def recover(ctx: BuildContext, model: nn.Module, params: RecoveryParams) -> nn.Module:
    """Fine-tune ``model`` for ``params.epochs`` (none when 0); return it in eval mode."""
    if params.epochs == 0:
        return model.eval()
    recipe = TrainParams(**params.model_dump(include=set(TrainParams.model_fields)))
    return fit(model, ctx.data.x_train, ctx.data.y_train, recipe, ctx.seed, loss_fn=recovery_loss(ctx, params),
               desc=f"{ctx.name} fine-tune")


def prunable_layers(model: nn.Module, layers: LayerKind) -> list[nn.Module]:
    """The modules whose ``weight`` ``layers`` selects, in ``named_modules`` order (each once)."""
    found = [m for m in model.modules() if isinstance(m, _KINDS[layers])]
    if not found:
        kinds = ", ".join(k.__name__ for k in _KINDS[layers])
        raise HarnessError(f"prune: the model has no layer to prune (layers: {layers} selects {kinds})")
    return found


def magnitude_prune(model: nn.Module, sparsity: float, scope: str, layers: LayerKind) -> int:
    """Mask the smallest-magnitude weights in place (masks stay as ``torch.nn.utils.prune`` hooks).

    Returns the number of weights masked: ``round(sparsity * n)`` over all
    selected weights (global) or summed per layer (layer).
    """
    targets = [(module, "weight") for module in prunable_layers(model, layers)]
    if scope == "global":
        torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    else:
        for module, name in targets:
            torch_prune.l1_unstructured(module, name, amount=sparsity)
    return sum(int((typing.cast(torch.Tensor, module.weight_mask) == 0).sum()) for module, _ in targets)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (``weight_orig * mask`` becomes ``weight``) and drop the hooks."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, torch_prune.BasePruningMethod):
                torch_prune.remove(module, hook._tensor_name)
    return model


@method("prune", uses_teacher=lambda params: params.distill)
def prune(ctx: BuildContext, params: PruneParams) -> nn.Module:
    """Unstructured magnitude pruning to a target sparsity, global or per layer (Han et al. 2015).

    It reads the teacher only with ``distill: true``; without it, it works
    (and is cached) without one.
    """
    model = ctx.model
    magnitude_prune(model, params.sparsity, params.scope, params.layers)
    recover(ctx, model, params)
    return make_permanent(model).eval()
