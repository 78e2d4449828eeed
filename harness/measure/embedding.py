"""Quality by task: classification (accuracy, agreement, KL) or embedding (cosine to the teacher, neighbour recall).

For embedding models, on the held-out inputs:

- ``cosine_to_teacher``: per input, the cosine similarity of the model's
  vector and the teacher's; their mean with a bootstrap 95% interval.
- ``neighbor_recall``: per input (a query), the share of the teacher's ``k``
  nearest neighbours among the other held-out inputs (cosine similarity) that
  are also among the model's ``k`` nearest: recall@k of the teacher's
  neighbours; the mean over queries with a bootstrap 95% interval. 1.0 means
  the model retrieves exactly what the teacher retrieves.

>>> import torch
>>> teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> round(cosine_to_teacher(teacher * 2, teacher).value, 6)      # scale does not matter
1.0
>>> neighbor_recall(teacher, teacher, k=1).value
1.0
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.base import Dataset
from harness.measure import quality
from harness.measure.quality import Estimate, bootstrap_mean

CLASSIFICATION = ("accuracy", "teacher_agreement", "kl_to_teacher")
EMBEDDING = ("cosine_to_teacher", "neighbor_recall")
Absent = dict[str, tuple[str, str]]


def cosine_to_teacher(embeddings: torch.Tensor, teacher: torch.Tensor) -> Estimate:
    """Mean cosine similarity of each row of ``embeddings`` to the same row of ``teacher``."""
    if embeddings.shape[0] != teacher.shape[0]:
        raise ValueError(f"{embeddings.shape[0]} embeddings but {teacher.shape[0]} of the teacher")
    return bootstrap_mean(F.cosine_similarity(embeddings.double(), teacher.double(), dim=1).numpy())


def nearest(embeddings: torch.Tensor, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine similarity (ties: the lower index first)."""
    unit = F.normalize(embeddings.double(), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-torch.inf)
    order = np.argsort(-similarity.numpy(), axis=1, kind="stable")
    return order[:, :k]


def neighbor_recall(embeddings: torch.Tensor, teacher: torch.Tensor, k: int) -> Estimate:
    """Per query, |model's k nearest ∩ teacher's k nearest| / k; the mean over queries (k capped at n - 1)."""
    n = teacher.shape[0]
    if n < 2:
        raise ValueError("neighbour recall needs at least 2 inputs")
    k = min(k, n - 1)
    mine, theirs = nearest(embeddings, k), nearest(teacher, k)
    hits = np.array([len(set(a) & set(b)) / k for a, b in zip(mine.tolist(), theirs.tolist(), strict=True)])
    return bootstrap_mean(hits)


def _classification(data: Dataset, logits: torch.Tensor, teacher: torch.Tensor | None) -> dict[str, Estimate]:
    found = {"accuracy": quality.accuracy(logits, data.y_test)}
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
        mine, other, reason = EMBEDDING, CLASSIFICATION, "an embedding dataset has no classes"
    else:
        found = _classification(data, outputs, teacher)
        mine, other, reason = CLASSIFICATION, EMBEDDING, "embedding metrics apply to embedding datasets"
    absent: Absent = {name: ("skipped", reason) for name in other}
    for name in mine:
        if name not in found:
            absent[name] = ("error", f"no teacher to compare with: its {teacher_error}")
    return found, absent
