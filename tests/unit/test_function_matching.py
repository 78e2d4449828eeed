"""function_matching (Beyer et al. 2022): its loss, its consistent augmentation, and a student that learns the
teacher's function from unlabeled inputs alone."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from harness.data.base import Dataset
from harness.errors import HarnessError
from harness.methods import BuildContext
from harness.methods.function_matching import FunctionMatchingParams, _augment, function_matching, matching_loss
from harness.models import ARCHITECTURES
from harness.train import TrainParams, fit


def _data(n: int = 300, transfer: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 6, generator=g) * 3
    def blobs(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 3, (count,), generator=g)
        return centers[y] + torch.randn(count, 6, generator=g), y
    (xt, yt), (xs, ys), (xu, _) = blobs(n), blobs(200), blobs(max(transfer, 1))
    return Dataset("blobs", xt, yt, xs, ys, 3, x_transfer=xu if transfer else None)


def test_the_loss_is_t_squared_kl_and_zero_when_the_functions_match():
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    student = torch.tensor([[0.0, 1.0, 0.0]])
    p, q = F.softmax(teacher / 2, 1), F.softmax(student / 2, 1)
    assert matching_loss(student, teacher, 2.0).item() == pytest.approx(4 * (p * (p / q).log()).sum().item(), rel=1e-6)
    assert matching_loss(teacher, teacher, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_mixup_mixes_pairs_of_the_batch_with_one_weight_each():
    x = torch.tensor([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]])
    mixed = _augment(x, FunctionMatchingParams(mixup=1.0), torch.Generator().manual_seed(1))
    assert mixed.shape == x.shape and (mixed[:, 0] == mixed[:, 1]).all()  # one weight per row, both features
    assert ((mixed >= 0) & (mixed <= 20)).all() and not torch.equal(mixed, x)
    shifted = _augment(torch.arange(5.0)[None], FunctionMatchingParams(mixup=0, shift=2), torch.Generator())
    assert sorted(shifted[0].tolist()) == [0, 1, 2, 3, 4]  # a circular shift keeps every value


def test_a_student_learns_the_teacher_from_unlabeled_inputs_alone():
    """Labels are never read: with every training label scrambled, the student still matches the teacher."""
    data = _data(transfer=600)
    teacher = fit(ARCHITECTURES.get("mlp")((6,), 3, hidden=[32]), data.x_train, data.y_train,
                  TrainParams(epochs=20, lr=1e-2), seed=0)
    scrambled = dataclasses.replace(data, y_train=torch.zeros_like(data.y_train))
    params = FunctionMatchingParams(epochs=15, lr=1e-2, transfer=True)

    def fresh() -> torch.nn.Module:
        torch.manual_seed(1)  # the same initial weights, as a run's builder gives them
        return ARCHITECTURES.get("mlp")((6,), 3, hidden=[8])

    student = function_matching(BuildContext(fresh(), scrambled, 0, "fm", teacher=teacher), params)
    with torch.no_grad():
        agreement = (student(data.x_test).argmax(1) == teacher(data.x_test).argmax(1)).float().mean().item()
    assert agreement > 0.9
    again = function_matching(BuildContext(fresh(), scrambled, 0, "fm", teacher=teacher), params)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), again.state_dict().values(),
                                                 strict=True)), "deterministic for a seed"


def test_a_transfer_set_the_dataset_lacks_is_one_line():
    data = _data()
    teacher = ARCHITECTURES.get("mlp")((6,), 3, hidden=[4])
    with pytest.raises(HarnessError, match="fm: transfer: true, but dataset blobs has no transfer set"):
        function_matching(BuildContext(ARCHITECTURES.get("mlp")((6,), 3, hidden=[4]), data, 0, "fm",
                                       teacher=teacher), FunctionMatchingParams(epochs=1, transfer=True))
