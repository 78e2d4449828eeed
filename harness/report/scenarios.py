"""Keep the scenarios of a results table apart: closed-loop views read single_stream rows, serving views the rest.

A per-batch-size row belongs to the scenario its cell ran in (the ``scenario``
column, :mod:`harness.measure.serving`): ``latency_p99_ms`` of a
``single_stream`` cell is the 99th percentile forward time of one batch, the
same metric of a ``server`` cell the response time of a query at one target
rate. Averaging the two would be meaningless, so every view of the closed-loop
sweep (the report's tables, headline, findings and figures, the leaderboard,
the hardware comparison) starts from :func:`split`, and the serving views
(:mod:`harness.report.serving`) read the other part. Model-level rows (no batch
size: accuracy, size) belong to every view; rows of runs written before schema
3, which have no ``scenario``, are single_stream.

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

from harness.errors import HarnessError
from harness.metrics import metric
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


def _target(df: pd.DataFrame) -> pd.Series:
    return df["target_qps"] if "target_qps" in df.columns else pd.Series(float("nan"), index=df.index)


def per_rate(df: pd.DataFrame) -> pd.DataFrame:
    """The server rows measured at one target rate each (latency, achieved rate, shares)."""
    return of(df, SERVER)[_target(of(df, SERVER)).notna()]


def capacity(df: pd.DataFrame) -> pd.DataFrame:
    """The server rows of the capacity search (no target rate): each model's ``max_qps_at_slo`` and its ratio to
    the teacher's, whose intervals are the search's bracket [highest pass, lowest miss], not sampling intervals."""
    server = of(df, SERVER)
    return server[_target(server).isna()]


def is_capacity(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` (one metric's) are results of the capacity search: their interval is a bracket."""
    return not rows.empty and len(capacity(rows)) == len(rows)


def is_per_rate(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` hold a server metric at one target rate each (no raw samples, no interval)."""
    return not rows.empty and len(per_rate(rows)) > 0


def closed_loop(name: str) -> bool:
    """Whether metric ``name`` is measured in single_stream cells (or is model-level): the closed-loop views read
    it; a metric of the serving scenarios alone (``max_qps_at_slo``, ``offline_seconds``) is not."""
    declared = metric(name)
    return not declared.per_batch_size or SINGLE_STREAM in declared.scenarios


def ranked(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows a view ranked on ``by`` reads: the :func:`single_stream` rows, plus ``by``'s own where it is a
    metric of the serving scenarios alone with one value per model (``max_qps_at_slo``, ``offline_seconds``).
    A server metric of each target rate has no one value to rank by: :class:`HarnessError`."""
    closed, serving = split(df)
    if closed_loop(by):
        return closed
    own = serving[serving["metric"] == by]
    rates = sorted({float(q) for q in _target(own).dropna()})
    if rates:
        raise HarnessError(f"cannot rank by {by}: the server scenario measures it at each target rate "
                           f"({', '.join(f'{q:g}' for q in rates)} queries/s), not once per model; rank by "
                           f"max_qps_at_slo (the capacity at the SLO), or read the Serving section of a run's report")
    return pd.concat([closed, own])


def ranked_note(df: pd.DataFrame, by: str) -> str:
    """What a leaderboard of ``df`` ranked on ``by`` says about scenarios: where ``by`` comes from when it is a
    serving metric (a capacity's interval is its search's bracket), else that its latencies are closed-loop ones
    when the results hold serving rows too; '' for results of the closed-loop sweep alone."""
    closed, serving = split(df)
    if closed_loop(by):
        return ("Latency and throughput are the closed-loop (single_stream) ones; the serving scenarios' are in the "
                "Serving section of each run's report." if len(serving) else "")
    own = serving[serving["metric"] == by]
    where = ", ".join(sorted(str(s) for s in scenario_of(own).unique()))
    sizes = ", ".join(str(int(b)) for b in sorted(own["batch_size"].dropna().unique()))
    note = f"{by} is a metric of the {where} scenario, one value per model (max_batch {sizes})."
    if is_capacity(own):
        bracket = "the capacity search's bracket [the highest rate that passed the SLO, the lowest that missed]"
        what = (f"the ratios of the ends of the model's and the teacher's brackets ({bracket})"
                if metric(by).relative_to_teacher else bracket)
        note += f" Its interval is {what}, not a 95% interval: models whose intervals overlap share a rank."
    return note
