"""``adversarial``: adversarial distillation, the student as the generator of a GAN (Goodfellow et al., 2014,
"Generative Adversarial Nets", arXiv:1406.2661; applied to distillation by Wang et al., 2018, "KDGAN:
Knowledge Distillation with Generative Adversarial Networks", NeurIPS, and Xu et al., 2018, "Training
Shallow and Thin Networks for Acceleration via Knowledge Distillation with Conditional Adversarial
Networks", ICLR workshop).

A discriminator D (an MLP: num_classes -> d_hidden -> LeakyReLU(0.2) -> 1 logit)
reads an output distribution softmax(z) and learns to tell the teacher's from
the student's. With D(.) = sigmoid(logit), the game is

    L(G, D) = E[log D(p_t)] + E[log(1 - D(p_s))]

D maximises it by minimising the binary cross-entropy

    L_D = -(mean log D(p_t) + mean log(1 - D(p_s)))

and the student minimises

    L_S = kd_loss(z_s, z_t, y; T, alpha) + adv_weight * L_G,   L_G = -mean log D(p_s)

L_G is the non-saturating generator loss (Goodfellow et al. 2014, section 3):
it has the same fixed point as minimising log(1 - D(p_s)) but strong gradients
while D still wins easily, which is where the student starts. Per batch, one D
step (Adam, ``d_lr`` 2e-4, betas (``d_beta1``, ``d_beta2``) = (0.5, 0.999) by
default, the DCGAN settings) on the detached student distribution against the
teacher's, then one student step. D is discarded after training; the teacher's
logits on the training set are computed once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness.methods.base import BuildContext, method
from harness.methods.fitnets import seeded
from harness.methods.kd import KDParams, kd_loss
from harness.train import fit


class AdversarialParams(KDParams):
    adv_weight: float = Field(0.1, ge=0, le=1e6)
    d_hidden: int = Field(64, ge=1, le=1 << 16)
    d_lr: float = Field(2e-4, gt=0, le=10)
    d_beta1: float = Field(0.5, ge=0, lt=1)
    d_beta2: float = Field(0.999, ge=0, lt=1)


def discriminator(num_classes: int, hidden: int) -> nn.Sequential:
    """An output distribution (B, num_classes) -> the logit of 'this came from the teacher' (B, 1)."""
    return nn.Sequential(nn.Linear(num_classes, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def discriminator_loss(d_teacher_logits: torch.Tensor, d_student_logits: torch.Tensor) -> torch.Tensor:
    """-(mean log sigmoid(a) + mean log(1 - sigmoid(b))): BCE with the teacher as real, the student as fake."""
    real = F.binary_cross_entropy_with_logits(d_teacher_logits, torch.ones_like(d_teacher_logits))
    fake = F.binary_cross_entropy_with_logits(d_student_logits, torch.zeros_like(d_student_logits))
    return real + fake


def generator_loss(d_student_logits: torch.Tensor) -> torch.Tensor:
    """-mean log sigmoid(b): the non-saturating loss of the student as generator."""
    return F.binary_cross_entropy_with_logits(d_student_logits, torch.ones_like(d_student_logits))


def adversarial_losses(d_teacher_logits: torch.Tensor,
                       d_student_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_D, L_G) from D's logits on teacher and student distributions.

    >>> d_loss, g_loss = adversarial_losses(torch.zeros(4, 1), torch.zeros(4, 1))
    >>> round(d_loss.item(), 4), round(g_loss.item(), 4)  # D undecided: 2 ln 2 and ln 2
    (1.3863, 0.6931)
    """
    return discriminator_loss(d_teacher_logits, d_student_logits), generator_loss(d_student_logits)


@method("adversarial", uses_teacher=True)
def adversarial(ctx: BuildContext, params: AdversarialParams) -> nn.Module:
    """Adversarial distillation: KD plus a discriminator on output distributions, the student as generator."""
    teacher_logits = ctx.teacher_logits()
    teacher_probs = teacher_logits.softmax(dim=1)
    disc = seeded(ctx.seed, lambda: discriminator(teacher_logits.shape[1], params.d_hidden)).train()
    disc_optimizer = torch.optim.Adam(disc.parameters(), lr=params.d_lr, betas=(params.d_beta1, params.d_beta2))

    def loss(logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        student_probs = logits.softmax(dim=1)
        d_loss = discriminator_loss(disc(teacher_probs[indices]), disc(student_probs.detach()))
        disc_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        disc_optimizer.step()
        disc.requires_grad_(False)  # the student's step must not leave gradients in D
        g_loss = generator_loss(disc(student_probs))
        disc.requires_grad_(True)
        return kd_loss(logits, teacher_logits[indices], labels, params.temperature, params.alpha) \
            + params.adv_weight * g_loss

    return fit(ctx.model, ctx.data.x_train, ctx.data.y_train, params, ctx.seed, loss_fn=loss, desc=ctx.name)
