"""The quality metrics of a model by its dataset's task: classification (accuracy, agreement with the teacher,
KL to it; :mod:`harness.measure.quality`) or embedding (cosine to the teacher, neighbour recall;
:mod:`harness.measure.embedding`). Each metric of the other task is absent, with the reason.
"""

from __future__ import annotations

import torch

from harness.data.base import Dataset
from harness.measure import quality
from harness.measure.embedding import cosine_to_teacher, neighbor_recall
from harness.measure.paired_quality import ece
from harness.measure.quality import Estimate
from harness.metrics import METRICS
from harness.rows import Status

#: the quality metrics of each task, as harness.metrics declares them
#: (the metrics against a baseline come later, once every model of the run is measured)
#: (accuracy_under_noise is one row per noise level: harness.measurer.Measurer.noise_rows)
CLASSIFICATION = tuple(name for name, m in METRICS.items() if m.task == "classification" and not m.vs_baseline
                       and name != "accuracy_under_noise")
EMBEDDING = tuple(name for name, m in METRICS.items() if m.task == "embedding" and not m.vs_baseline)
#: quality metrics of another task that a model of this task is told it has none of
OTHER_TASK = {"classification": tuple(n for n, m in METRICS.items() if m.task == "embedding"),
              "embedding": tuple(n for n, m in METRICS.items() if m.task == "classification")}
#: metric -> (status, reason) of each quality metric a model has no value of
Absent = dict[str, tuple[Status, str]]


def _classification(data: Dataset, logits: torch.Tensor, teacher: torch.Tensor | None) -> dict[str, Estimate]:
    probabilities = torch.softmax(logits.double(), 1)
    confidence, predicted = probabilities.max(1)
    found = {"accuracy": quality.accuracy(logits, data.y_test),
             "ece": ece(confidence.numpy(), (predicted == data.y_test).numpy())}
    if teacher is not None:
        found["teacher_agreement"] = quality.teacher_agreement(logits, teacher)
        found["kl_to_teacher"] = quality.kl_to_teacher(logits, teacher)
    return found


def _embedding(embeddings: torch.Tensor, teacher: torch.Tensor | None, k: int) -> dict[str, Estimate]:
    if teacher is None:
        return {}
    return {"cosine_to_teacher": cosine_to_teacher(embeddings, teacher),
            "neighbor_recall": neighbor_recall(embeddings, teacher, k)}


def quality_estimates(data: Dataset, outputs: torch.Tensor, teacher: torch.Tensor | None, teacher_error: str,
                      k: int) -> tuple[dict[str, Estimate], Absent]:
    """The quality metrics of ``data.task`` with their estimates, and every other quality metric with
    (status, reason) for its absence."""
    mine: tuple[str, ...]
    other: tuple[str, ...]
    if data.task == "embedding":
        found = _embedding(outputs, teacher, k)
        mine, other, reason = EMBEDDING, OTHER_TASK["embedding"], "an embedding dataset has no classes"
    else:
        found = _classification(data, outputs, teacher)
        mine, other, reason = CLASSIFICATION, OTHER_TASK["classification"], \
            "embedding metrics apply to embedding datasets"
    absent: Absent = {name: (Status.SKIPPED, reason) for name in other}
    for name in mine:
        if name not in found:
            absent[name] = (Status.ERROR, f"no teacher to compare with: its {teacher_error}")
    return found, absent
