"""The scenarios of a results table, row by row: which rows are closed-loop (single_stream), which offline or server.

A per-batch-size row belongs to the scenario its cell ran in (the ``scenario``
column, :mod:`harness.measure.serving`): ``latency_p99_ms`` of a
``single_stream`` cell is the 99th percentile forward time of one batch, the
same metric of a ``server`` cell the response time of a query at one target
rate. Averaging the two would be meaningless, so every view of the closed-loop
sweep (reports, leaderboards, the hardware comparison, compare's cells) starts
from :func:`split`, and the serving views read the other part. Model-level
rows (no batch size: accuracy, size) belong to every view; rows of runs written
before schema 3, which have no ``scenario``, are single_stream. The report's
views over these are :mod:`harness.report.scenarios`.

>>> import pandas as pd
>>> df = pd.DataFrame({"metric": ["accuracy", "latency_p99_ms", "latency_p99_ms", "max_qps_at_slo"],
...                    "batch_size": [None, 1, 1, 1],
...                    "scenario": ["single_stream", "single_stream", "server", "server"],
...                    "target_qps": [None, None, 500.0, None]})
>>> closed, serving = split(df)
>>> closed["metric"].tolist(), serving["metric"].tolist()
(['accuracy', 'latency_p99_ms'], ['latency_p99_ms', 'max_qps_at_slo'])
>>> capacity(serving)["metric"].tolist(), per_rate(serving)["target_qps"].tolist()
(['max_qps_at_slo'], [500.0])
"""

from __future__ import annotations

import pandas as pd

from harness.rows import SINGLE_STREAM

OFFLINE, SERVER = "offline", "server"


def scenario_of(df: pd.DataFrame) -> pd.Series:
    """Each row's scenario; single_stream where the table has no such column or the row no value (older runs)."""
    if "scenario" not in df.columns:
        return pd.Series(SINGLE_STREAM, index=df.index, dtype="string")
    return df["scenario"].astype("string").fillna(SINGLE_STREAM)


def _serving_mask(df: pd.DataFrame) -> pd.Series:
    return df["batch_size"].notna() & (scenario_of(df) != SINGLE_STREAM)


def single_stream(df: pd.DataFrame) -> pd.DataFrame:
    """The model-level rows and the per-batch-size rows of closed-loop (single_stream) cells."""
    return df[~_serving_mask(df)]


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`single_stream` rows, the rows of the serving scenarios' cells: offline and server)."""
    serving = _serving_mask(df)
    return df[~serving], df[serving]


def of(df: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The per-batch-size rows of one scenario's cells."""
    return df[df["batch_size"].notna() & (scenario_of(df) == scenario)]


def target(df: pd.DataFrame) -> pd.Series:
    return df["target_qps"] if "target_qps" in df.columns else pd.Series(float("nan"), index=df.index)


def per_rate(df: pd.DataFrame) -> pd.DataFrame:
    """The server rows measured at one target rate each (latency, achieved rate, shares)."""
    return of(df, SERVER)[target(of(df, SERVER)).notna()]


def capacity(df: pd.DataFrame) -> pd.DataFrame:
    """The server rows of the capacity search (no target rate): each model's ``max_qps_at_slo`` and its ratio to
    the teacher's, whose intervals are the search's bracket [highest pass, lowest miss], not sampling intervals."""
    server = of(df, SERVER)
    return server[target(server).isna()]


def is_capacity(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` (one metric's) are results of the capacity search: their interval is a bracket."""
    return not rows.empty and len(capacity(rows)) == len(rows)
