"""The report's Serving section: the models under load (the offline and server scenarios), apart from the
closed-loop tables.

Shown only when the run has rows of a serving scenario
(:func:`harness.report.scenarios.split`). It holds:

- the capacity table: each model's ``max_qps_at_slo`` with the capacity
  search's bracket [highest rate that passed, lowest that missed], which is
  not a 95% interval, and ``capacity_vs_teacher`` with the interval from the
  brackets, beside the SLO (``slo_p99_ms``) and ``max_batch`` the search ran at,
  read from the manifest's resolved suite;
- the per-rate table: model × target rate, the response times (p50, p99,
  mean), the rate achieved, the late and dropped shares and the batcher's mean
  batch size;
- the offline throughput, where the run has the offline scenario;
- the latency-against-rate figure (:mod:`harness.report.serving_plots`);
- the load generator's wake-up lateness (the manifest's ``loadgen``): a
  lateness that is a sizeable share of the latencies measured is part of them.

>>> lateness_sentence({"p99_ms": 0.18, "p99_over_median_latency": 1.31, "cells": []}).split(". ")[0]
'Load generator: its p99 wake-up lateness was 0.180 ms, 131% of the median latency it measured in its worst cell'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.manifest import Manifest
from harness.metrics import metric
from harness.report import scenarios, tables
from harness.report.display import as_table
from harness.report.formatting import MISSING, format_interval, format_value, header, table_cell
from harness.report.model import Figure, Section, Table

TITLE = "Serving"
#: the figure of this section (drawn by :mod:`harness.report.serving_plots`) -> its caption
FIGURES = {"serving_latency": "Response time p50 and p99 against the target rate per model, the p99 of the capacity "
                              "search's runs as points (hollow within the SLO, crosses over it), the SLO as a "
                              "dotted line, max_qps_at_slo as a dash-dotted line with its bracket shaded"}
#: each per-rate column: (label, metric)
RATE_COLUMNS = (("achieved", "achieved_qps"), ("p50", "latency_p50_ms"), ("p99", "latency_p99_ms"),
                ("mean", "latency_mean_ms"), ("late", "late_share"), ("dropped", "dropped_share"),
                ("mean batch", "mean_batch_size"))
BRACKET = ("max_qps_at_slo is the highest rate whose p99 response time stayed within the SLO: a ladder of "
           "rates, then bisection, then a repeat of the highest pass. Its bracket runs from the highest rate that "
           "passed to the lowest that missed: the capacity lies between them. It is the search's resolution, not "
           "a 95% interval. Capacity vs teacher is a model's max_qps_at_slo over the teacher's (the teacher's is 1), "
           "its interval the ratios of the two brackets' ends.")
LATENESS_MEANING = ("It sleeps until each query's scheduled arrival (or a batch's timeout) and wakes "
                    "late by this much; a response time counts from the scheduled arrival, so the lateness is part "
                    "of every server latency here, and where it is a sizeable share of the median latency, the "
                    "latencies and capacities measure the load generator as well as the model.")


def specs(manifest: Manifest) -> dict[str, Mapping[str, Any]]:
    """The suite's serving scenarios by kind (``offline``, ``server``), as its resolved suite records them."""
    items = (manifest.suite.get("measure") or {}).get("scenarios") or []
    return {str(item["kind"]): item for item in items if isinstance(item, Mapping) and "kind" in item}


def slo_ms(manifest: Manifest) -> float | None:
    """The server scenario's SLO on the p99 response time (ms); None where the manifest does not say."""
    value = specs(manifest).get(scenarios.SERVER, {}).get("slo_p99_ms")
    return float(value) if isinstance(value, (int, float)) else None


def _cells(rows: pd.DataFrame, by_rate: bool = False) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(model, device, dtype[, target rate]) -> its rows, in report order (teacher first, rates ascending)."""
    keys = ["model", "device", "dtype", *(["target_qps"] if by_rate else [])]
    order = {m: i for i, m in enumerate(tables.model_order(rows))}
    groups = [(tuple(k), g) for k, g in rows.groupby(keys, sort=False, dropna=False)]
    return sorted(groups, key=lambda kg: (order[kg[0][0]], *kg[0][1:]))


def _where(rows: pd.DataFrame, key: tuple[Any, ...]) -> dict[str, str]:
    """The model, and its device and dtype where the serving rows hold several."""
    shown = {"model": str(key[0])}
    for at, column in ((1, "device"), (2, "dtype")):
        if rows[column].nunique() > 1:
            shown[column] = str(key[at])
    return shown


def _missing(estimates: Mapping[str, tables.Estimate]) -> dict[str, str]:
    return {name: est.note for name, est in estimates.items() if est.note}


def _notes(labels: list[str], missing: list[dict[str, str]]) -> list[str]:
    """One line per (metric, reason) naming the rows it applies to, or 'all models'."""
    found: dict[tuple[str, str], list[str]] = {}
    for label, absent in zip(labels, missing, strict=True):
        for name, reason in absent.items():
            found.setdefault((name, reason), []).append(label)
    return [f"{name} ({'all models' if len(who) == len(labels) else ', '.join(dict.fromkeys(who))}): "
            f"{table_cell(reason)}" for (name, reason), who in found.items()]


def _table(records: list[dict[str, Any]], labels: list[str], missing: list[dict[str, str]], **text: Any) -> Table:
    return as_table(pd.DataFrame(records), missing=_notes(labels, missing), **text)


def capacity_table(rows: pd.DataFrame, manifest: Manifest) -> Table | None:
    """Each model's capacity at the SLO with its bracket, and against the teacher's; None without such rows."""
    found = scenarios.capacity(rows)
    if found.empty:
        return None
    slo = slo_ms(manifest)
    unit, ratio = metric("max_qps_at_slo").unit, metric("capacity_vs_teacher").unit
    records, missing = [], []
    for key, group in _cells(found):
        est = {name: tables.aggregate(group[group["metric"] == name])
               for name in ("max_qps_at_slo", "capacity_vs_teacher")}
        cap, vs = est["max_qps_at_slo"], est["capacity_vs_teacher"]
        records.append({**_where(found, key), header("max QPS at SLO", unit): format_value(cap.value, unit),
                        header("bracket", unit): format_interval(cap.low, cap.high, unit),
                        "capacity vs teacher": format_value(vs.value, ratio),
                        "capacity vs teacher interval": format_interval(vs.low, vs.high, ratio),
                        "SLO p99 (ms)": MISSING if slo is None else format_value(slo, "ms"),
                        "max batch": str(int(group["batch_size"].iloc[0]))})
        missing.append(_missing(est))
    return _table(records, [str(key[0]) for key, _ in _cells(found)], missing, title="Capacity at the SLO",
                  notes=(BRACKET,))


def rate_table(rows: pd.DataFrame) -> Table | None:
    """Model × target rate: response times, the rate achieved, late and dropped shares, mean batch size."""
    found = scenarios.per_rate(rows)
    if found.empty:
        return None
    records, missing = [], []
    for key, group in _cells(found, by_rate=True):
        record = {**_where(found, key), header("target", "queries/s"): format_value(key[3], "queries/s")}
        est = {name: tables.aggregate(group[group["metric"] == name]) for _, name in RATE_COLUMNS}
        for label, name in RATE_COLUMNS:
            record[header(label, metric(name).unit)] = format_value(est[name].value, metric(name).unit)
        records.append(record)
        missing.append(_missing(est))
    labels = [f"{key[0]} at {format_value(key[3], 'queries/s')} queries/s" for key, _ in _cells(found, by_rate=True)]
    intro = ("Each target rate, one run per model: a query's response time is its completion minus its scheduled "
             "arrival, so time spent queueing counts; late: the share of queries over the SLO (dropped ones "
             "included); dropped: the share not served before the run gave up. One run per rate, so no interval.")
    return _table(records, labels, missing, title="Latency under load, per target rate", intro=intro)


def offline_table(rows: pd.DataFrame) -> Table | None:
    """Each model's offline throughput: the test split queued at once, served in batches of max_batch."""
    found = scenarios.of(rows, scenarios.OFFLINE)
    if found.empty:
        return None
    records, missing = [], []
    for key, group in _cells(found):
        est = {name: tables.aggregate(group[group["metric"] == name])
               for name in ("throughput_sps", "offline_seconds")}
        records.append({**_where(found, key), "max batch": str(int(group["batch_size"].iloc[0])),
                        header("throughput", "samples/s"): format_value(est["throughput_sps"].value, "samples/s"),
                        header("time to serve the test split", "s"): format_value(est["offline_seconds"].value, "s")})
        missing.append(_missing(est))
    return _table(records, [str(key[0]) for key, _ in _cells(found)], missing, title="Offline throughput",
                  intro="Every test input queued at once and served in batches of max_batch; the median of the "
                        "paired rounds.")


def _pct(share: Any) -> str:
    return MISSING if not isinstance(share, (int, float)) else f"{100 * share:.0f}%"


def lateness_sentence(loadgen: Mapping[str, Any]) -> str:
    """The load generator's p99 wake-up lateness, as a share of the median latency, and what it means."""
    p99 = loadgen.get("p99_ms")
    if not isinstance(p99, (int, float)):
        return f"Load generator: its wake-up lateness was not recorded. {LATENESS_MEANING}"
    return (f"Load generator: its p99 wake-up lateness was {format_value(p99, 'ms')} ms, "
            f"{_pct(loadgen.get('p99_over_median_latency'))} of the median latency it measured in its worst cell. "
            f"{LATENESS_MEANING}")


def lateness_table(loadgen: Mapping[str, Any] | None) -> Table | None:
    """The lateness of each model's server cell (the manifest's ``loadgen``), under the sentence that says what it
    means; None for a run without it."""
    if not loadgen:
        return None
    cells = [c for c in loadgen.get("cells") or [] if isinstance(c, Mapping)]
    records = [{"model": str(c.get("model")), "wake-ups": str(c.get("sleeps", MISSING)),
                "lateness p50 (ms)": format_value(c.get("p50_ms"), "ms"),
                "lateness p99 (ms)": format_value(c.get("p99_ms"), "ms"),
                "lateness max (ms)": format_value(c.get("max_ms"), "ms"),
                "median latency (ms)": format_value(c.get("median_latency_ms"), "ms"),
                "p99 lateness / median latency": _pct(_share(c))} for c in cells]
    return as_table(pd.DataFrame(records), title="Load generator", intro=lateness_sentence(loadgen))


def _share(cell: Mapping[str, Any]) -> float | None:
    p99, median = cell.get("p99_ms"), cell.get("median_latency_ms")
    return p99 / median if isinstance(p99, (int, float)) and isinstance(median, (int, float)) and median else None


def _number(value: Any) -> str:
    """A suite's setting as written (2, 0.5), '—' where the manifest does not say."""
    return f"{value:g}" if isinstance(value, (int, float)) else MISSING


def _intro(manifest: Manifest) -> str:
    found = specs(manifest)
    parts = ["Models under load, apart from the closed-loop tables above (one batch, wait, the next), which the "
             "headline and the findings use: a latency here is a query's response time under load, not the same "
             "quantity."]
    server = found.get(scenarios.SERVER)
    if server:
        served = "one at a time (max_batch 1: no batching)" if server.get("max_batch") == 1 else \
            (f"by a dynamic batcher in batches of up to {server.get('max_batch', MISSING)}, waiting at most "
             f"{_number(server.get('batch_timeout_ms'))} ms to fill one")
        parts.append(f"Server: queries arrive at each target rate ({server.get('arrival', 'poisson')} arrivals, "
                     f"{_number(server.get('duration_seconds'))} s per rate) and are served {served}; the SLO is a "
                     f"p99 response time of at most {_number(server.get('slo_p99_ms'))} ms.")
    offline = found.get(scenarios.OFFLINE)
    if offline:
        parts.append(f"Offline: the whole test split queued at once, served in batches of "
                     f"{offline.get('max_batch', MISSING)}.")
    return " ".join(parts)


def section(rows: pd.DataFrame, manifest: Manifest, figures: Sequence[Figure] = (),
            left_out: Sequence[str] = ()) -> Section | None:
    """The Serving section of the serving scenarios' ``rows`` (:func:`harness.report.scenarios.split`), with its
    ``figures`` and the reasons figures were ``left_out``; None for a run without such rows."""
    if rows.empty:
        return None
    parts = (capacity_table(rows, manifest), rate_table(rows), offline_table(rows), lateness_table(manifest.loadgen))
    return Section(TITLE, (_intro(manifest),), tuple(t for t in parts if t is not None),
                   tuple(f"Left out: {reason}" for reason in left_out), tuple(figures))
