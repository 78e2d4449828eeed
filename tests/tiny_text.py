"""A tiny BERT, its WordPiece tokenizer and a seeded table of short sentences in three classes: no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = {
    "food": ["bread", "cheese", "soup", "apple", "rice", "butter"],
    "sport": ["goal", "ball", "team", "race", "match", "coach"],
    "tech": ["code", "chip", "server", "laptop", "network", "screen"],
}
FILLER = ["the", "a", "today", "we", "saw", "very", "new", "good", "and", "some"]
VOCAB = SPECIAL + sorted({w for words in WORDS.values() for w in words} | set(FILLER))


def sentences(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """``rows`` sentences: two or three words of the row's class among three or four filler words."""
    rng = np.random.default_rng(seed)
    labels = sorted(WORDS)
    data = []
    for i in range(rows):
        label = labels[i % len(labels)]
        words = [*rng.choice(WORDS[label], size=rng.integers(2, 4)), *rng.choice(FILLER, size=rng.integers(3, 5))]
        rng.shuffle(words)
        data.append({"sentence": " ".join(words), "topic": label, "id": i})
    return pd.DataFrame(data)


def save_tokenizer(folder: Path) -> Path:
    """A lower-casing WordPiece tokenizer over :data:`VOCAB` ([PAD] is id 0), saved into ``folder``."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(vocab={word: i for i, word in enumerate(VOCAB)}).save_pretrained(str(folder))
    return folder


def save_bert(folder: Path, vocab_size: int = len(VOCAB), layers: int = 2, seed: int = 0,
              tokenizer: bool = True) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) and, unless told not, its tokenizer, in ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder))
    if tokenizer:
        save_tokenizer(folder)
    return folder
