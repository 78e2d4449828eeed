"""``hf_disk``: your own data, as a folder that Hugging Face ``datasets`` wrote with ``save_to_disk``.

The optional ``hf`` extra (``pip install -e '.[hf]'``) reads it: ``datasets.load_from_disk`` on the
local folder (never a download), converted to a pandas frame and handed to the steps of ``table``
(numeric features standardised on the training split, ``categorical`` one-hot, the ``target`` mapped
to classes) or, when ``text`` and ``tokenizer`` are given, of ``text_table`` (the ``text`` column
tokenized to ``seq_len`` ids). A ``DatasetDict`` with ``train`` and ``test`` splits keeps them as the
split; a single ``Dataset`` (or a ``DatasetDict`` of one split) is split stratified by ``seed``.

``harness validate`` checks that the folder is a ``save_to_disk`` folder and that every named column
is in it (its ``dataset_info.json`` is read, and ``datasets`` is not needed for that), then loads the
rows as a run does (:mod:`harness.preflight`). Each bad input is one line naming the folder and the column.
A ``ClassLabel`` target keeps its integer ids; :attr:`Dataset.info` names the classes by the label's names.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import AfterValidator, DirectoryPath, Field, ValidationInfo

from harness.data import table as table_steps
from harness.data import text_table as text_steps
from harness.data.base import DATASETS, Dataset
from harness.errors import HarnessError, install_command, one_line
from harness.paths import FOLDER_OR_ID

MISSING_EXTRA = f"hf_disk needs the hf extra: {install_command('hf')}"


def saved(folder: Path) -> Path:
    """``folder`` once it holds what ``save_to_disk`` writes (a Dataset's or a DatasetDict's files)."""
    if not (folder / "dataset_dict.json").is_file() and not all(
            (folder / f).is_file() for f in ("dataset_info.json", "state.json")):
        raise ValueError(f"{folder} is not a folder that datasets' save_to_disk wrote (no dataset_dict.json, "
                         f"nor dataset_info.json and state.json)")
    return folder


def columns_in(folder: Path) -> list[str]:
    """The column names of a ``save_to_disk`` folder (of its first split, for a DatasetDict), from its metadata."""
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits") or []
        folder = folder / str(splits[0]) if splits else folder
    try:
        return list(json.loads((folder / "dataset_info.json").read_text()).get("features") or {})
    except (OSError, ValueError, AttributeError):
        return []  # unreadable metadata: the run's load says what is wrong


def _known(names: str | tuple[str, ...] | None, info: ValidationInfo) -> Any:
    """``names`` once each is a column of the folder (``path``, validated before): at ``harness validate``."""
    path = info.data.get("path")
    if path is not None and (columns := columns_in(Path(path))) and (
            problem := table_steps.unknown_column(names, columns, Path(path).name)):
        raise ValueError(problem)
    return names


Column = Annotated[str, AfterValidator(_known)]
Columns = Annotated[tuple[str, ...], AfterValidator(_known)]


def load(folder: Path) -> tuple[pd.DataFrame, np.ndarray | None, dict[str, list[str]]]:
    """The rows of a ``save_to_disk`` folder, which are test rows where it came split (else None), and the names
    of each ``ClassLabel`` column's ids."""
    try:
        import datasets
    except ImportError:
        raise HarnessError(MISSING_EXTRA) from None
    try:
        found = datasets.load_from_disk(str(folder))
    except FileNotFoundError:
        raise HarnessError(f"{folder} is not a folder that datasets' save_to_disk wrote") from None
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{folder}: cannot read the dataset: {one_line(exc)}") from None
    first = next(iter(found.values())) if isinstance(found, datasets.DatasetDict) and found else found
    names = {column: list(feature.names) for column, feature in getattr(first, "features", {}).items()
             if isinstance(feature, datasets.ClassLabel)}
    if not isinstance(found, datasets.DatasetDict):
        return found.to_pandas(), None, names
    if len(found) == 1:
        return first.to_pandas(), None, names
    if not {"train", "test"} <= set(found):
        raise HarnessError(f"{folder}: a DatasetDict needs train and test splits (it has "
                           f"{', '.join(map(repr, found))}), or a single split to divide by test_fraction")
    train, test = found["train"].to_pandas(), found["test"].to_pandas()
    is_test = np.r_[np.zeros(len(train), dtype=bool), np.ones(len(test), dtype=bool)]
    return pd.concat([train, test], ignore_index=True), is_test, names


@DATASETS.register("hf_disk")
def hf_disk(
    *,
    seed: int,
    path: Annotated[DirectoryPath, AfterValidator(saved), Field(
        description="a folder that datasets' save_to_disk wrote, from the suite's folder (needs the hf extra)")],
    target: Annotated[Column, Field(description="the column of class labels")],
    features: Annotated[Columns | None, Field(description="the feature columns; default: every column but target "
                                                          "(not with text)")] = None,
    categorical: Annotated[Columns, Field(description="feature columns of categories, one-hot encoded")] = (),
    text: Annotated[Column | None, Field(description="the column of texts: tokenized with tokenizer, instead of "
                                                     "numeric features")] = None,
    tokenizer: Annotated[str | None, FOLDER_OR_ID, Field(min_length=1, description="with text: a tokenizer folder "
                                                                                   "(from the suite's folder), or a "
                                                                                   "hub id in the local cache")] = None,
    seq_len: Annotated[int, Field(ge=4, le=8192, description="with text: token ids per text, truncated, padded "
                                                             "with 0")] = 64,
    test_fraction: Annotated[table_steps.TestFraction, Field(description="share of rows held out for testing "
                                                                         "(stratified) unless the folder has train "
                                                                         "and test splits")] = 0.2,
    standardize: table_steps.Standardize = True,
    dropna: table_steps.DropNA = False,
) -> Dataset:
    """A ``save_to_disk`` folder's rows as a ``table`` (numeric and categorical features) or, with ``text``, as a
    ``text_table`` (token ids)."""
    if (text is None) != (tokenizer is None):
        raise HarnessError(f"{path}: text: and tokenizer: go together (given only "
                           f"{'text' if tokenizer is None else 'tokenizer'}:)")
    frame, is_test, label_names = load(path)
    if text is None:
        return _named(table_steps.from_frame("hf_disk", path, frame, target=target, features=features,
                                             categorical=categorical, test_fraction=test_fraction, seed=seed,
                                             standardize=standardize, dropna=dropna, is_test=is_test),
                      label_names.get(target))
    assert tokenizer is not None
    if features is not None or categorical:
        raise HarnessError(f"{path}: with text: the texts are the input: leave out features: and categorical:")
    for column in (text, target):
        if problem := table_steps.unknown_column(column, list(frame.columns), path.name):
            raise HarnessError(f"{path}: {problem}")
    if dropna:
        kept = frame[[text, target]].notna().all(axis=1).to_numpy()
        frame, is_test = frame[kept].reset_index(drop=True), None if is_test is None else is_test[kept]
    return _named(text_steps.from_frame("hf_disk", path, frame, text=text, target=target, tokenizer=tokenizer,
                                        seq_len=seq_len, test_fraction=test_fraction, seed=seed, is_test=is_test),
                  label_names.get(target))


def _named(data: Dataset, names: list[str] | None) -> Dataset:
    """``data`` with its classes recorded by their ``ClassLabel`` names, and the folder's id of each (``class_ids``)."""
    if names is None:
        return data
    classes = [names[int(value)] if 0 <= int(value) < len(names) else str(value) for value in data.info["classes"]]
    return dataclasses.replace(data, info={**data.info, "classes": classes, "class_ids": data.info["classes"]})
