"""The run report's detailed tables as text: models, embedding quality, one summary per device and batch size.

Numbers come from :mod:`harness.report.tables` and are formatted by the units
:mod:`harness.metrics` declares (:mod:`harness.report.formatting`). A missing
value is "—", and the reason is a line under its table (:func:`missing_notes`).

>>> as_table(pd.DataFrame({"model": ["kd-16"], "params": ["1,210"]}), title="Models").rows
(('kd-16', '1,210'),)
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from harness.metrics import metric
from harness.report import tables
from harness.report.formatting import MISSING, format_interval, format_value, header, table_cell
from harness.report.model import Table
from harness.rows import Status

LEGEND = ("Intervals are 95%: with one seed the measurement's own (bootstrap for accuracy, bootstrap over paired "
          "rounds for latency and speedup), with several seeds a Student-t interval of the mean across seeds. Drop "
          "is teacher accuracy minus model accuracy in percentage points; ratios are teacher / model, so 10.00x "
          "means ten times fewer. Speedup vs teacher is teacher p50 / model p50 from the same paired, interleaved "
          "rounds (speedup_vs_teacher), so 10.00x means ten times faster. — marks a missing value; the reason is "
          "listed under the table.")
UNPAIRED = "unpaired"
EMBEDDING_METRICS = ("cosine_to_teacher", "neighbor_recall")
EMBEDDING_INTRO = ("Mean cosine similarity of each held-out input's embedding to the teacher's, and recall@k of "
                   "the teacher's k nearest held-out neighbours (1.0: the model retrieves what the teacher retrieves).")


def as_table(frame: pd.DataFrame, *, title: str = "", intro: str = "", notes: Sequence[str] = (),
             missing: Sequence[str] = ()) -> Table:
    """A frame of formatted strings as a :class:`~harness.report.model.Table`."""
    rows = tuple(tuple(MISSING if pd.isna(v) else str(v) for v in row) for row in frame.itertuples(index=False))
    return Table(tuple(str(c) for c in frame.columns), rows, title, intro, tuple(notes), tuple(missing))


def _column(table: pd.DataFrame, out: pd.DataFrame, label: str, key: str, unit: str) -> None:
    out[header(label, unit)] = [format_value(v, unit) for v in table[key]]


def _interval_column(table: pd.DataFrame, out: pd.DataFrame, label: str, key: str, unit: str) -> None:
    ends = zip(table[f"{key}_low"], table[f"{key}_high"], strict=True)
    out[header(label, unit)] = [format_interval(low, high, unit) for low, high in ends]


def speedup_text(value: float, paired: bool) -> str:
    """A speedup vs the teacher as a cell: '5.05x', '5.00x (unpaired)' for a ratio of separately timed p50s."""
    return MISSING if pd.isna(value) else format_value(value, "x") + ("" if paired else f" ({UNPAIRED})")


def display_summary(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`~harness.report.tables.summary_table` as strings; dtype shown only when there are several."""
    out = pd.DataFrame({"model": table["model"], "method": table["method"]})
    if table["dtype"].nunique(dropna=False) > 1:
        out["dtype"] = table["dtype"]
    out["seeds"] = table["seeds"].astype(str)
    acc, lat = metric("accuracy").unit, metric("latency_p50_ms").unit
    _column(table, out, "accuracy", "accuracy", acc)
    _interval_column(table, out, "acc 95% CI", "accuracy", acc)
    _column(table, out, "drop vs teacher", "drop_pp", "pp")
    _column(table, out, "params", "params", metric("params").unit)
    _column(table, out, "params ratio", "params_ratio", "x")
    _column(table, out, "size", "size_bytes", metric("size_bytes").unit)
    _column(table, out, "size ratio", "size_ratio", "x")
    _column(table, out, "latency p50", "latency_p50_ms", lat)
    _interval_column(table, out, "p50 95% CI", "latency_p50_ms", lat)
    if "noise" in table:
        out["round spread"] = [MISSING if pd.isna(v) else f"{100 * v:.0f}%" + (" noisy" if v > tables.NOISY else "")
                               for v in table["noise"]]
    out[header("speedup vs teacher", "x")] = [speedup_text(v, paired) for v, paired in
                                              zip(table["speedup"], table["speedup_paired"], strict=True)]
    _interval_column(table, out, "speedup 95% CI", "speedup", "x")
    _column(table, out, "throughput", "throughput_sps", metric("throughput_sps").unit)
    _column(table, out, "peak memory", "peak_memory_bytes", metric("peak_memory_bytes").unit)
    if "energy_j_per_sample" in table:  # only runs that measured energy (cuda with NVML) have the column
        _column(table, out, "energy per sample", "energy_j_per_sample", metric("energy_j_per_sample").unit)
    return out


def display_models(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`~harness.report.tables.model_table` as strings: model, role, method, seeds, sizes, train time."""
    out = table[["model", "role", "method", "seeds"]].copy()
    for label, name in (("params", "params"), ("nonzero", "params_nonzero"), ("size", "size_bytes"),
                        ("sparse size", "size_bytes_sparse"), ("flops", "flops"), ("train", "train_seconds")):
        if name in table:
            _column(table, out, label, name, metric(name).unit)
    return out


def missing_notes(table: pd.DataFrame) -> tuple[str, ...]:
    """One line per (metric, reason) under a table, naming its models, or 'all models'."""
    models: dict[tuple[str, str], list[str]] = {}
    for row in table.to_dict("records"):
        for name, reason in row["missing"].items():
            models.setdefault((name, reason), []).append(str(row["model"]))
    return tuple(f"{name} ({'all models' if len(who) == len(table) else ', '.join(who)}): {table_cell(reason)}"
                 for (name, reason), who in models.items())


def speedup_note(table: pd.DataFrame) -> str | None:
    """A line saying which models' speedup is the unpaired ratio of p50s (no ``speedup_vs_teacher`` rows)."""
    if "speedup_paired" not in table or table["speedup_paired"].all():
        return None
    models = [str(m) for m in table.loc[~table["speedup_paired"], "model"]]
    who = "every model" if len(models) == len(table) else ", ".join(models)
    return (f"Speedup of {who} ({UNPAIRED}): teacher p50 / model p50 timed in separate windows, without an "
            "interval; these results have no paired speedup_vs_teacher (a run before schema 3), so a machine "
            "that changed speed between the windows is part of the ratio.")


def summary(table: pd.DataFrame, device: str, size: int) -> Table:
    """The detailed table of one device and batch size, with its notes."""
    unpaired = speedup_note(table)
    return as_table(display_summary(table), title=f"Batch size {size} ({device})", notes=[unpaired] if unpaired else [],
                    missing=missing_notes(table))


def models(model_level: pd.DataFrame) -> Table:
    """The models table (one row per model, model-level metrics) with its notes; with the expected calibration
    error and its interval where the run measured it."""
    found = tables.model_table(model_level)
    shown, missing = display_models(found), list(missing_notes(found))
    ece = model_level[(model_level["metric"] == "ece") & model_level["batch_size"].isna()]
    if (ece["status"] == Status.OK).any():
        est = [tables.aggregate(ece[ece["model"] == model]) for model in found["model"]]
        shown[header("ECE", "fraction")] = [format_value(e.value, "fraction") for e in est]
        shown[header("ECE 95% CI", "fraction")] = [format_interval(e.low, e.high, "fraction") for e in est]
        missing += [f"ece ({model}): {table_cell(e.note)}" for model, e in zip(found["model"], est, strict=True)
                    if e.note]
    return as_table(shown, missing=missing)


def embedding_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """Embedding models' fidelity to the teacher (cosine, neighbour recall) per model; None without such rows."""
    present = df[df["metric"].isin(EMBEDDING_METRICS) & (df["status"] == Status.OK)]
    if present.empty:
        return None
    grouped = tables._by_model(df)
    rows = []
    for model in tables.model_order(df):
        row: dict[str, str] = {"model": model, "method": str(grouped[model][0]["method"])}
        for name in EMBEDDING_METRICS:
            est = tables._estimate(grouped[model], name, None, None, None)
            row[header(name.replace("_", " "), metric(name).unit)] = format_value(est.value, metric(name).unit)
            row[f"{name.replace('_', ' ')} 95% CI"] = format_interval(est.low, est.high, metric(name).unit)
        rows.append(row)
    return pd.DataFrame(rows)
