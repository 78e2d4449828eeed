"""``function_matching``: distillation as function matching (Beyer et al., 2022, "Knowledge distillation:
A good teacher is patient and consistent", arXiv:2106.05237).

The student learns to match the teacher's function, not the labels: at every
step the teacher and the student see *the same* augmented input (consistent),
mixed up with another input of the batch (mixup, Zhang et al. 2018), and the
loss is the KL divergence between the teacher's and the student's softened
predictions on it. No label is used, so any input from the training
distribution helps: the labeled training inputs and, with ``transfer: true``,
the dataset's unlabeled transfer set (``x_transfer``), which the teacher
labels as it goes. The paper's other finding, patience, is the schedule: many
epochs, since matching a function on fresh mixtures keeps improving long
after fitting a fixed set of labels stops.

    L = T^2 * KL(softmax(f_t(x') / T) || softmax(f_s(x') / T)),
    x' = lam * a(x_i) + (1 - lam) * a(x_j),  lam ~ Beta(mixup, mixup)

where ``a`` adds Gaussian jitter of std ``noise`` and shifts a sequence by up
to ``shift`` positions (circularly, along the last axis). Deterministic for a
seed: the order, the mixing weights and the augmentation come from one
generator seeded with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from tqdm.auto import tqdm

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method
from harness.train import TrainParams, optimizer_and_schedule


class FunctionMatchingParams(TrainParams):
    #: softmax temperature T of both distributions (the loss is scaled by T^2); the paper matches at T = 1
    temperature: float = Field(1.0, gt=0, le=1000)
    #: Beta(mixup, mixup) mixing weights; 0 turns mixup off
    mixup: float = Field(1.0, ge=0, le=100)
    #: std of the Gaussian jitter added to each input before mixing
    noise: float = Field(0.0, ge=0, le=100)
    #: largest circular shift along the last axis (sequences), in positions
    shift: int = Field(0, ge=0, le=100_000)
    #: also match on the dataset's unlabeled transfer set
    transfer: bool = False


def _augment(x: torch.Tensor, params: FunctionMatchingParams, generator: torch.Generator) -> torch.Tensor:
    """The same augmented, mixed batch for teacher and student."""
    if params.shift:
        offsets = torch.randint(-params.shift, params.shift + 1, (len(x),), generator=generator)
        x = torch.stack([torch.roll(row, int(k), dims=-1) for row, k in zip(x, offsets, strict=True)])
    if params.noise:
        x = x + params.noise * torch.randn(x.shape, generator=generator)
    if params.mixup:
        lam = torch.distributions.Beta(params.mixup, params.mixup).sample((len(x),))
        lam = lam.view(-1, *([1] * (x.dim() - 1)))
        partner = torch.randperm(len(x), generator=generator)
        x = lam * x + (1 - lam) * x[partner]
    return x


def matching_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    return t * t * F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                            reduction="batchmean", log_target=True)


@method("function_matching", uses_teacher=True)
def function_matching(ctx: BuildContext, params: FunctionMatchingParams) -> nn.Module:
    """Function matching: the student matches the teacher on the same mixed-up input, labels unused (Beyer et
    al. 2022); with transfer: true, on the dataset's unlabeled transfer set too."""
    teacher = ctx.teacher
    if teacher is None:
        raise HarnessError(f"{ctx.name}: function_matching needs a teacher")
    ctx.outputs.users.add(ctx.name)
    pool = ctx.data.x_train
    if params.transfer:
        if ctx.data.x_transfer is None:
            raise HarnessError(f"{ctx.name}: transfer: true, but dataset {ctx.data.name} has no transfer set "
                               f"(MNIST-1D: transfer_samples)")
        pool = torch.cat([pool, ctx.data.x_transfer])
    if not pool.is_floating_point():
        raise HarnessError(f"{ctx.name}: function_matching mixes inputs, and {ctx.data.name} has token ids")
    torch.manual_seed(ctx.seed)
    generator = torch.Generator().manual_seed(ctx.seed)
    model, n = ctx.model, len(pool)
    steps = params.epochs * math.ceil(n / params.batch_size)
    optimizer, schedule = optimizer_and_schedule(list(model.parameters()), params, steps)
    model.train()
    teacher.eval()
    for _ in tqdm(range(params.epochs), desc=ctx.name, unit="epoch", leave=False, disable=None):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, params.batch_size):
            batch = order[start:start + params.batch_size]
            if len(batch) < 2:
                continue
            mixed = _augment(pool[batch], params, generator)
            with torch.no_grad():
                target = teacher(mixed)
            loss = matching_loss(model(mixed), target, params.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()
