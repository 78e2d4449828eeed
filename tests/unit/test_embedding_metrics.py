"""Embedding quality: exact numbers on hand-made vectors; dispatch by the dataset's task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.data.base import Dataset
from harness.measure.by_task import quality_estimates
from harness.measure.embedding import cosine_to_teacher, nearest, neighbor_recall
from harness.methods.embed_distill import embedding_loss

# four points on the unit circle at 0, 10, 90 and 100 degrees: two tight pairs
ANGLES = np.radians([0.0, 10.0, 90.0, 100.0])
TEACHER = torch.tensor(np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), dtype=torch.float32)


def test_cosine_to_teacher_is_the_mean_cosine_of_matching_rows():
    rotated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 1.0]])  # 0, 10, 0, 10 degrees away
    est = cosine_to_teacher(rotated, TEACHER)
    expected = (1 + math.cos(math.radians(10)) + 1 + math.cos(math.radians(10))) / 4
    assert est.value == pytest.approx(expected, abs=1e-7) and est.n == 4
    assert est.ci_low <= est.value <= est.ci_high


def test_nearest_neighbours_exclude_the_query_itself():
    assert nearest(TEACHER, 1).ravel().tolist() == [1, 0, 3, 2]
    assert nearest(TEACHER, 2).tolist() == [[1, 2], [0, 2], [3, 1], [2, 1]]


def test_neighbor_recall_counts_shared_neighbours():
    assert neighbor_recall(TEACHER, TEACHER, k=1).value == 1.0
    # swapping the pairs' partners: 0 is nearest to 2, 1 to 3 -> no query keeps its teacher neighbour at k=1
    swapped = TEACHER[[0, 2, 1, 3]]
    assert neighbor_recall(swapped, TEACHER, k=1).value == 0.0
    # at k=3 every other point is a neighbour: recall 1 whatever the embedding
    assert neighbor_recall(swapped, TEACHER, k=3).value == 1.0
    # k larger than n - 1 is capped
    assert neighbor_recall(swapped, TEACHER, k=50).value == 1.0


def test_neighbor_recall_at_two_on_a_partial_match():
    # model: 0's two nearest are {1, 3}; the teacher's are {1, 2}: half of them
    model = torch.tensor([[1.0, 0.0], [0.99, 0.14], [-1.0, 0.0], [0.9, -0.4]])
    assert nearest(model, 2)[0].tolist() == [1, 3]
    per_query = [len(set(a) & set(b)) / 2 for a, b in zip(nearest(model, 2).tolist(), nearest(TEACHER, 2).tolist(),
                                                          strict=True)]
    assert neighbor_recall(model, TEACHER, k=2).value == pytest.approx(np.mean(per_query))
    assert per_query[0] == 0.5


def test_quality_dispatches_on_the_task():
    empty = torch.zeros(4, dtype=torch.int64)
    embedding = Dataset("e", empty, empty, empty, empty, 0, task="embedding")
    found, absent = quality_estimates(embedding, TEACHER, TEACHER, "", k=1)
    assert set(found) == {"cosine_to_teacher", "neighbor_recall"}
    assert absent["accuracy"] == ("skipped", "an embedding dataset has no classes")
    found, absent = quality_estimates(embedding, TEACHER, None, "build failed: boom", k=1)
    assert found == {}
    assert absent["cosine_to_teacher"] == ("error", "no teacher to compare with: its build failed: boom")
    labels = torch.tensor([0, 1, 1, 1])
    classification = Dataset("c", TEACHER, labels, TEACHER, labels, 2)
    found, absent = quality_estimates(classification, TEACHER, TEACHER, "", k=1)
    assert found["accuracy"].value == 0.75  # the argmax of (cos, sin) per row is 0, 0, 1, 1: row 1 is wrong
    assert absent["neighbor_recall"][0] == "skipped"


def test_embedding_losses():
    a, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert float(embedding_loss(a, b, "cosine")) == pytest.approx(0.5)
    assert float(embedding_loss(a, b, "mse")) == pytest.approx(0.5)
