"""Keep rows of different backends and sequence lengths apart in reports and leaderboards.

Reports and leaderboards aggregate by model. A model timed as several
backends (eager, onnx, ...) or at several sequence lengths has several
latency rows per batch size, which must not be pooled. :func:`split_variants`
gives each (model, backend, seq_len) its own model name, ``kd-16 [onnx]``,
``teacher [seq 128]``, carrying the model's model-level rows (quality, size:
measured once, on the eager model) along. Eager rows keep the plain name; the
sequence length is named only where the results hold more than one.

>>> import pandas as pd
>>> df = pd.DataFrame({"model": ["m", "m", "m"], "metric": ["params", "latency_p50_ms", "latency_p50_ms"],
...                    "batch_size": [None, 1, 1], "backend": ["eager", "eager", "onnx"], "seq_len": [None] * 3})
>>> split_variants(df)[["model", "metric", "backend"]].values.tolist()
[['m', 'params', 'eager'], ['m', 'latency_p50_ms', 'eager'], ['m [onnx]', 'params', 'eager'], \
['m [onnx]', 'latency_p50_ms', 'onnx']]
"""

from __future__ import annotations

import math
import numbers

import pandas as pd


def _label(model: str, backend: str, seq_len: object, name_seq: bool) -> str:
    parts = [] if backend == "eager" else [backend]
    if name_seq and isinstance(seq_len, numbers.Real) and not math.isnan(float(seq_len)):
        parts.append(f"seq {int(float(seq_len))}")
    return f"{model} [{', '.join(parts)}]" if parts else model


def split_variants(df: pd.DataFrame) -> pd.DataFrame:
    """One model name per (model, backend, seq_len) of the per-batch rows; model-level rows copied to each."""
    if df.empty or "backend" not in df.columns:
        return df
    per_batch = df["batch_size"].notna()
    lengths = df.loc[per_batch, "seq_len"].dropna().unique()
    name_seq = len(lengths) > 1
    variants = df.loc[per_batch, ["model", "backend", "seq_len"]].drop_duplicates()
    if len(variants) == df.loc[per_batch, "model"].nunique():
        return df  # one variant per model: nothing to split
    parts = []
    for model, rows in df.groupby("model", sort=False):
        model_level = rows[rows["batch_size"].isna()]
        speed = rows[rows["batch_size"].notna()]
        keys = speed[["backend", "seq_len"]].drop_duplicates().itertuples(index=False)
        for backend, seq_len in keys:
            same_len = speed["seq_len"].isna() if pd.isna(seq_len) else speed["seq_len"] == seq_len
            label = _label(str(model), str(backend), seq_len, name_seq)
            chosen = speed[(speed["backend"] == backend) & same_len]
            parts.append(pd.concat([model_level, chosen]).assign(model=label))
        if speed.empty:
            parts.append(model_level)
    return pd.concat(parts, ignore_index=True).astype(df.dtypes.to_dict())


def base_model(label: str) -> str:
    """The model a variant's label names: ``kd-16 [onnx]`` -> ``kd-16`` (model names have no spaces)."""
    return label.split(" [", 1)[0]


def one_per_model(df: pd.DataFrame) -> pd.DataFrame:
    """The model-level rows once per model, under its own name, for tables of model-level metrics (size,
    quality): :func:`split_variants` copies them to every variant of the model.

    >>> split = split_variants(pd.DataFrame({"model": ["m", "m", "m"], "metric": ["params", "p50", "p50"],
    ...     "batch_size": [None, 1, 1], "backend": ["eager", "eager", "onnx"], "seq_len": [None] * 3}))
    >>> one_per_model(split)[["model", "metric"]].values.tolist()
    [['m', 'params']]
    """
    model_level = df[df["batch_size"].isna()]
    first = model_level.groupby(model_level["model"].map(base_model), sort=False)["model"].first()
    kept = model_level[model_level["model"].isin(set(first))]
    return kept.assign(model=kept["model"].map(base_model))
