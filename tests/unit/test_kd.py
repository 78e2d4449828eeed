"""The KD loss against values computed by hand from its formula."""

import math

import pytest
import torch

from harness.methods.kd import kd_loss


def _hand(student: list[float], teacher: list[float], label: int, t: float, alpha: float) -> float:
    def softmax(z: list[float]) -> list[float]:
        e = [math.exp(v / t) for v in z]
        return [v / sum(e) for v in e]

    p_t, p_s = softmax(teacher), softmax(student)
    kl = sum(a * math.log(a / b) for a, b in zip(p_t, p_s, strict=True))
    ce = -math.log(math.exp(student[label]) / sum(math.exp(v) for v in student))
    return alpha * t * t * kl + (1 - alpha) * ce


@pytest.mark.parametrize(("t", "alpha", "expected"), [
    # teacher [ln 3, 0] -> p_t = [3/4, 1/4]; student [0, 0] -> [1/2, 1/2]; CE = ln 2
    # KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308120...; 0.5*KL + 0.5*ln 2 = 0.4119795...
    (1.0, 0.5, 0.5 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)) + 0.5 * math.log(2)),
    # T = 2: p_t = [sqrt3, 1] / (sqrt3 + 1); the soft term is scaled by T^2 = 4
    (2.0, 1.0, 4 * (math.sqrt(3) / (math.sqrt(3) + 1) * math.log(2 * math.sqrt(3) / (math.sqrt(3) + 1))
                    + 1 / (math.sqrt(3) + 1) * math.log(2 / (math.sqrt(3) + 1)))),
    (4.0, 0.0, math.log(2)),  # alpha = 0: cross-entropy alone
])
def test_kd_loss_matches_hand_computation(t: float, alpha: float, expected: float):
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    value = kd_loss(student, teacher, torch.tensor([0]), temperature=t, alpha=alpha).item()
    assert value == pytest.approx(expected, abs=1e-6)
    assert value == pytest.approx(_hand([0.0, 0.0], [math.log(3.0), 0.0], 0, t, alpha), abs=1e-6)


def test_kd_loss_averages_over_the_batch():
    torch.manual_seed(0)
    s, t, y = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    per_example = [kd_loss(s[i:i + 1], t[i:i + 1], y[i:i + 1], 3.0, 0.7).item() for i in range(5)]
    assert kd_loss(s, t, y, 3.0, 0.7).item() == pytest.approx(sum(per_example) / 5, abs=1e-6)
    expected = [_hand(s[i].tolist(), t[i].tolist(), int(y[i]), 3.0, 0.7) for i in range(5)]
    assert per_example == pytest.approx(expected, abs=1e-5)


def test_identical_logits_leave_only_the_hard_term():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([2])).item()
    assert kd_loss(logits, logits, torch.tensor([2]), 4.0, 0.9).item() == pytest.approx(0.1 * ce, abs=1e-7)


def test_at_t1_and_alpha1_kd_is_exactly_the_kl_term():
    torch.manual_seed(1)
    s, t, y = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    kl = torch.nn.functional.kl_div(torch.log_softmax(s, 1), torch.softmax(t, 1), reduction="batchmean")
    assert kd_loss(s, t, y, temperature=1.0, alpha=1.0).item() == pytest.approx(kl.item(), abs=1e-7)
