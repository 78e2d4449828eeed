"""The quality of an embedding model against its teacher's vectors, on the held-out inputs:

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

from harness.measure.quality import Estimate, bootstrap_mean


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
