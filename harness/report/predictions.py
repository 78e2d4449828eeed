"""A run's per-example predictions (``predictions.parquet``) as the reports read them.

Every model of a run is scored on the same test examples, in the same order.
A model evaluated in several dtypes has one set of predictions each; reports
read the one it was first evaluated in (the one it was built in), as
:mod:`harness.against_baseline` pairs it, unless a dtype is asked for.
Runs written before schema 4, and tasks other than classification, have none.

>>> import pandas as pd
>>> table = pd.DataFrame({"model": ["m"] * 4, "seed": [0, 0, 1, 1], "dtype": ["float32"] * 4,
...                       "example": [1, 0, 0, 1], "correct": [True, False, True, True]})
>>> correctness(table, "m").tolist()
[[False, True], [True, True]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.against_baseline import of_model
from harness.rows import PREDICTION_COLUMNS
from harness.store import frame

#: how reports say why a run has none
WHY_NONE = "these results have no per-example predictions (a run before schema 4, or not a classification task)"


def none() -> pd.DataFrame:
    """An empty predictions table."""
    return frame([], PREDICTION_COLUMNS)


def dtypes(predictions: pd.DataFrame, model: str) -> list[str]:
    """The dtypes ``model`` has predictions in, first the one it was first evaluated in."""
    return list(dict.fromkeys(str(d) for d in predictions.loc[predictions["model"] == model, "dtype"]))


def correctness(predictions: pd.DataFrame, model: str, dtype: str | None = None) -> np.ndarray:
    """(seeds, examples): whether ``model`` was right on each example, seeds in order, in the dtype
    :func:`~harness.against_baseline.of_model` picks."""
    rows = of_model(predictions, model, dtype)
    seeds = sorted({int(s) for s in rows["seed"]})
    return np.stack([rows.loc[rows["seed"] == s, "correct"].to_numpy(dtype=bool) for s in seeds]) if seeds \
        else np.zeros((0, 0), dtype=bool)
