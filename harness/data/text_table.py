"""``text_table``: text classification from your own table (``.csv``, ``.parquet`` or ``.feather`` beside the suite).

The ``text`` column is tokenized with ``tokenizer`` (a folder that ``save_pretrained`` wrote, or a hub id
read from the local Hugging Face cache, never downloaded) into ``seq_len`` int64 ids: the tokenizer's
special tokens added, truncated, padded with 0 (the tokenizer's pad id must be 0, as in BERT's
WordPiece). The ``target`` column's values are the classes, mapped to ids 0..K-1 in sorted order (as
text). The rows are split stratified by ``seed``. Pair it with an ``hf`` model whose vocabulary is
the tokenizer's: ``harness validate`` and a run compare the two before training (``harness.models.hf.fits``).

``harness validate`` checks the file's extension and that the two columns exist (the header is read),
then loads the rows and the tokenizer as a run does (:mod:`harness.preflight`): each bad input one line
naming it.
:attr:`Dataset.info` says the class of each id, the tokenizer's vocabulary size and how many texts
were longer than ``seq_len`` (truncated).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from pydantic import AfterValidator, Field

from harness.data.base import DATASETS, Dataset
from harness.data.split import split_rows
from harness.data.table import Column, TestFraction, classes, unknown_column
from harness.data.table_io import EXTENSIONS, read_table, supported
from harness.errors import HarnessError, one_line
from harness.paths import FOLDER_OR_ID

#: files of which a tokenizer folder holds at least one
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Any:
    """The tokenizer of a folder, or of a hub id in the local cache; anything else is one line."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from harness.models.hf import locate, not_cached

    folder = Path(name).expanduser()
    if folder.is_dir() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise HarnessError(f"text_table: tokenizer folder {folder.resolve()} has no tokenizer files "
                           f"(one of {', '.join(TOKENIZER_FILES)}; tokenizer.save_pretrained writes them)")
    source = str(folder.resolve()) if folder.is_dir() else locate(name, "text_table: tokenizer")
    hf_logging.set_verbosity_error()
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        if not folder.is_dir():
            raise not_cached("text_table: tokenizer", name, exc) from None
        raise HarnessError(f"text_table: cannot read the tokenizer in {source}: {one_line(exc)}") from None


def tokenize(tokenizer: Any, texts: list[str], seq_len: int, name: str) -> torch.Tensor:
    """Token ids (int64, (len(texts), seq_len)): special tokens added, truncated, padded with 0."""
    if tokenizer.pad_token_id != 0:
        raise HarnessError(f"text_table: tokenizer {name} pads with id {tokenizer.pad_token_id}, but text models "
                           f"here take 0 as padding (BERT-style WordPiece tokenizers do)")
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=seq_len, return_tensors="pt")
    return encoded["input_ids"].to(torch.int64)


@DATASETS.register("text_table")
def text_table(
    *,
    seed: int,
    path: Annotated[Path, AfterValidator(supported), Field(
        description=f"the table ({', '.join(EXTENSIONS)}), from the suite's folder (checked by harness validate)")],
    text: Annotated[Column, Field(description="the column of texts")],
    target: Annotated[Column, Field(description="the column of class labels")],
    tokenizer: Annotated[str, FOLDER_OR_ID, Field(min_length=1, description="a tokenizer folder (from the suite's "
                                                                            "folder), or a hub id in the local cache "
                                                                            "(never downloaded)")],
    seq_len: Annotated[int, Field(ge=4, le=8192, description="token ids per text: truncated, padded with 0")] = 64,
    test_fraction: TestFraction = 0.2,
) -> Dataset:
    """Texts of a table as token ids, its ``target`` as classes, split into train and test by ``seed``."""
    return from_frame("text_table", path, read_table(path), text=text, target=target, tokenizer=tokenizer,
                      seq_len=seq_len, test_fraction=test_fraction, seed=seed)


def from_frame(name: str, path: Path, frame: pd.DataFrame, *, text: str, target: str, tokenizer: str, seq_len: int,
               test_fraction: float, seed: int, is_test: np.ndarray | None = None) -> Dataset:
    """The ``text_table`` steps on a frame read from ``path``: split stratified by ``seed``, or as ``is_test`` says."""
    for column in (text, target):
        if problem := unknown_column(column, list(frame.columns), path.name):
            raise HarnessError(f"{path}: {problem}")
    for column in (text, target):
        if missing := int(frame[column].isna().sum()):
            raise HarnessError(f"{path}: column {column!r} has {missing} missing value{'' if missing == 1 else 's'}")
    y, labels = classes(path, frame[target].astype(str))
    train, test = split_rows(path, y, labels, test_fraction, seed, is_test)
    found = load_tokenizer(tokenizer)
    texts = frame[text].astype(str).tolist()
    x_train = tokenize(found, [texts[i] for i in train], seq_len, tokenizer)
    x_test = tokenize(found, [texts[i] for i in test], seq_len, tokenizer)
    first = max(found.all_special_ids, default=0) + 1
    size = len(found)
    cut = sum(len(ids) > seq_len for ids in found(texts)["input_ids"])
    info = {"path": str(path), "rows": len(frame), "text": text, "target": target, "classes": labels,
            "tokenizer": tokenizer, "vocab_size": size, "seq_len": seq_len, "texts_truncated": cut}
    return Dataset(name, x_train, torch.tensor(y[train]), x_test, torch.tensor(y[test]),
                   num_classes=len(labels), token_range=(first if first < size else 1, size), info=info)
