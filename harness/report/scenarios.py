"""The report's views over scenarios: what a ranking on a metric reads, and what it says about scenarios. The
row-level split (closed-loop against serving rows) is :mod:`harness.scenarios`, re-exported here."""

from __future__ import annotations

import pandas as pd

from harness.errors import HarnessError
from harness.metrics import metric
from harness.rows import SINGLE_STREAM
from harness.scenarios import (  # noqa: F401  (re-exported: the report's modules read them from here)
    OFFLINE,
    SERVER,
    capacity,
    is_capacity,
    of,
    per_rate,
    scenario_of,
    single_stream,
    split,
    target,
)


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
    rates = sorted({float(q) for q in target(own).dropna()})
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
