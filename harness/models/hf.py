"""``hf``: a Hugging Face transformer encoder, from a local folder or the local hub cache, never downloaded.

``model`` is a folder that ``save_pretrained`` wrote (``config.json`` and the weights; absolute, or
relative to the suite's folder), or a hub id (``bert-base-uncased``) read from the local
Hugging Face cache with ``local_files_only=True`` (``HF_HUB_OFFLINE=1`` is set here if unset): a model
that is not there is one line naming the id. The encoder is transformers' ``AutoModel`` for the
folder's ``config.json`` (a folder saved from a ``...ForSequenceClassification`` model gives its encoder).

The module takes int64 token ids of shape (B, L), padded with 0 (as ``text_table`` and
``stdlib_sentences`` make them), and pools the last hidden states by their mean over the non-padding
tokens. ``task: classification`` puts a linear head sized to the dataset's classes on the pooled
vector (initialised by the run's seed) and returns logits; ``task: embedding`` returns the pooled
vector L2-normalised (as ``minilm``), and ignores the classes. ``layers: k`` keeps the first k
transformer layers with their weights (a truncated copy, as DistilBERT starts): a student from the
teacher's folder with ``layers: 1`` is a one-layer copy to distil.

A tokenizer that is not the model's is one line at ``harness validate`` and before a run trains
anything: the dataset's token ids (those its tokenizer gives, and those it holds) must be within the
model's ``vocab_size`` (:func:`fits`). Two tokenizers of the same size that number words differently
cannot be told apart this way. A token id beyond the vocabulary met later (a dataset of another
architecture's ids) is one line at the forward pass that meets it (on CPU; CUDA reports it as a
device-side assertion).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import AfterValidator, Field
from torch import nn

from harness.data.base import Dataset
from harness.errors import HarnessError, one_line
from harness.models.base import ARCHITECTURES, fit_check
from harness.paths import FOLDER_OR_ID

_PATH_LIKE = ("/", "./", "../", "~", ".\\")


def locate(model: str, what: str = "hf: model") -> str:
    """What ``from_pretrained`` should read: an existing folder (absolute), or a hub id as written.

    >>> locate("./no/such/folder")
    Traceback (most recent call last):
    harness.errors.HarnessError: hf: model folder not found: ./no/such/folder
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise HarnessError(f"hf: {folder.resolve()} has no config.json: not a model folder "
                               f"(save_pretrained writes one)")
        return str(folder.resolve())
    if folder.exists():
        raise HarnessError(f"{what} {model} is a file, not a folder")
    if model.startswith(_PATH_LIKE) or model.count("/") > 1:
        raise HarnessError(f"{what} folder not found: {model}")
    return model


def not_cached(what: str, name: str, exc: BaseException) -> HarnessError:
    """One line for a hub id that the local cache does not hold (the harness never downloads); ``what``
    says whose (``hf: model``)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "")
    return HarnessError(f"{what} {name!r} is neither a folder nor in the local Hugging Face cache "
                        f"(HF_HUB_OFFLINE={offline}; the harness reads local files only: download it once "
                        f"with network, or give a folder) ({one_line(exc)[:120]})")


def load_config(model: str) -> Any:
    """transformers' ``PretrainedConfig`` of ``model`` (a folder or a cached hub id), from local files only."""
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    source = locate(model)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        if source == model and not Path(model).is_dir():
            raise not_cached("hf: model", model, exc) from None
        raise HarnessError(f"hf: cannot read the config of {source}: {one_line(exc)}") from None


def load_encoder(model: str, config: Any = None) -> nn.Module:
    """transformers' ``AutoModel`` for ``model`` (a folder or a cached hub id), read from local files only;
    ``config``: its :func:`load_config`, where the caller read it already."""
    from transformers import AutoModel

    config = load_config(model) if config is None else config
    source = locate(model)
    try:
        encoder = AutoModel.from_pretrained(source, config=config, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"hf: cannot load the weights of {source}: {one_line(exc)}") from None
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # BERT's pooler (a dense layer on [CLS]): unused here, and not counted
    return encoder


def _config(encoder: nn.Module) -> Any:
    """A transformers model's ``PretrainedConfig``."""
    return encoder.config


def layer_stack(encoder: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent, attribute, list) of the encoder's transformer layers: the ModuleList of num_hidden_layers."""
    count = getattr(_config(encoder), "num_hidden_layers", None)
    for _, parent in encoder.named_modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == count:
                return parent, name, child
    raise HarnessError(f"hf: cannot find the {count} transformer layers of {type(encoder).__name__} to truncate")


def truncate(encoder: nn.Module, layers: int) -> nn.Module:
    """Keep the first ``layers`` transformer layers of ``encoder`` (in place) and return it; ``layers`` is
    1..num_hidden_layers (:func:`mismatch` says so before the model is loaded)."""
    parent, name, stack = layer_stack(encoder)
    setattr(parent, name, nn.ModuleList(list(stack)[:layers]))
    _config(encoder).num_hidden_layers = layers
    return encoder


class TextEncoder(nn.Module):
    """An encoder, mean-pooled over non-padding tokens; a linear head gives logits, or none an L2-normalised vector."""

    def __init__(self, encoder: nn.Module, num_classes: int | None, source: str):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(_config(encoder).hidden_size, num_classes) if num_classes else None
        self.source = source

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = (input_ids != 0).to(torch.int64)
        try:
            hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        except IndexError:
            vocab = _config(self.encoder).vocab_size
            if int(input_ids.max()) < vocab:
                raise
            raise HarnessError(f"hf: token id {int(input_ids.max())} is beyond the vocabulary of {self.source} "
                               f"(vocab_size {vocab}): the dataset's tokenizer is not the model's") from None
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1) if self.head is None else self.head(pooled)


def _a_model_folder(model: str) -> str:
    """Checked when the suite is validated: a folder has its config.json, a path-like name is a folder."""
    try:
        locate(model)
    except HarnessError as exc:
        raise ValueError(str(exc).removeprefix("hf: ")) from None
    return model


MODEL_DOC = "a save_pretrained folder (from the suite's folder), or a hub id in the local cache (never downloaded)"
Model = Annotated[str, FOLDER_OR_ID, AfterValidator(_a_model_folder), Field(min_length=1, description=MODEL_DOC)]
Task = Annotated[Literal["classification", "embedding"], Field(
    description="classification: a linear head on the mean-pooled tokens; embedding: the pooled vector, L2-normalised")]
Layers = Annotated[int | None, Field(ge=1, le=1000, description="keep only the first N transformer layers, with their "
                                                                "weights (default: all)")]


def mismatch(config: Any, model: str, input_shape: tuple[int, ...], num_classes: int, task: str,
             layers: int | None, token_ids: int | None = None) -> str | None:
    """What keeps ``model`` (its ``config``) from taking the dataset, as one line, or None: inputs that are not
    token ids, a classification without classes, a ``seq_len`` beyond its positions, more ``layers`` than it has,
    or token ids (``token_ids``: one more than the largest the dataset can hold) beyond its vocabulary."""
    if len(input_shape) != 1:
        return (f"hf: takes token ids of shape (seq_len,), the dataset gives {input_shape}: "
                f"use a text dataset (text_table, stdlib_sentences)")
    if task == "classification" and num_classes < 2:
        return f"hf: task classification needs a dataset with classes (it has {num_classes}): use task: embedding"
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and input_shape[0] > positions:
        return f"hf: seq_len {input_shape[0]} is longer than {model} takes (max_position_embeddings {positions})"
    count = getattr(config, "num_hidden_layers", None)
    if layers is not None and count is not None and layers > count:
        return f"hf: layers={layers}, but {model} has {count} (allowed: 1..{count})"
    vocab = getattr(config, "vocab_size", None)
    if token_ids is not None and vocab is not None and token_ids > vocab:
        return (f"hf: the dataset's token ids go up to {token_ids - 1}, beyond the vocabulary of {model} "
                f"(vocab_size {vocab}): the dataset's tokenizer is not the model's")
    return None


@fit_check("hf")
def fits(data: Dataset, model: str, task: str = "classification", layers: int | None = None) -> str | None:
    """At ``harness validate`` and before a run builds anything: :func:`mismatch` against the loaded dataset, whose
    token ids are those its tokenizer can give (``token_range``) and those it holds."""
    high = None
    if data.token_range is not None and data.x_train.dtype == torch.int64:
        high = max(data.token_range[1], int(data.x_train.max()) + 1, int(data.x_test.max()) + 1)
    return mismatch(load_config(model), model, data.input_shape, data.num_classes, task, layers, high)


@ARCHITECTURES.register("hf")
def hf(input_shape: tuple[int, ...], num_classes: int, model: Model, task: Task = "classification",
       layers: Layers = None) -> nn.Module:
    """A Hugging Face encoder on token ids (B, seq_len), truncated to ``layers``, with a head for ``task``."""
    config = load_config(model)
    if problem := mismatch(config, model, input_shape, num_classes, task, layers):
        raise HarnessError(problem)
    encoder = load_encoder(model, config)
    if layers is not None:
        truncate(encoder, layers)
    return TextEncoder(encoder, num_classes if task == "classification" else None, model).eval()
