"""Summary tables: views of the tidy results table, one row per model.

Numbers stay numbers here. A value that is missing (no row, or every row has
status ``error``/``skipped``) is NaN, never 0, and the ``missing`` column maps
each such metric to the reason. :mod:`harness.report.markdown` turns these
tables into strings, with "—" in every missing cell.

Aggregation over seeds: with one seed a metric is that seed's value and its own
interval (``ci_low``..``ci_high``, e.g. the bootstrap interval of accuracy).
With several seeds it is the mean over seeds and the 95% Student-t interval of
that mean, ``mean ± t(0.975, k-1) · sd / sqrt(k)``, widened to the seeds'
average own interval where that is wider (seeds that agree exactly would
otherwise claim an interval of zero width), clipped to the metric's
range (fractions to [0, 1], non-negative values at 0); the per-seed intervals
are not pooled, so the interval describes seed-to-seed variation. Per-batch
metrics (latency, throughput, memory) are the exception: seeds change the
weights, not the cost, so their interval is the envelope of the per-seed ones.

Model-level metrics (``per_batch_size`` false in :mod:`harness.metrics`) are
taken from rows of the section's device and dtype where there are any, and
from the model's other rows otherwise; per-batch metrics only ever from rows
of exactly that batch size, device and dtype.

>>> import pandas as pd
>>> batch_sizes(pd.DataFrame({"batch_size": pd.array([None, 64, 1, 64], dtype="Int64")}))
[1, 64]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.measure.stats import NOISE_METRICS, NOISY_IQR_OVER_MEDIAN, Z95
from harness.metrics import METRICS, metric
from harness.report.noise import within_floor
from harness.rows import Status

SUMMARY_METRICS = ("accuracy", "params", "size_bytes", "latency_p50_ms", *NOISE_METRICS, "throughput_sps",
                   "peak_memory_bytes")
#: a cell whose rounds' spread (older runs: the samples' IQR/median) is above this is flagged noisy
NOISY = NOISY_IQR_OVER_MEDIAN
MODEL_METRICS = ("accuracy", "params", "size_bytes", "flops", "train_seconds")
#: shown in the models table when the results have them (a pruned model's honest size)
OPTIONAL_MODEL_METRICS = ("params_nonzero", "size_bytes_sparse")

# Two-sided 95% Student-t critical values for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(dof: int) -> float:
    """The 97.5% quantile of Student's t (tabulated to 30 dof, Cornish-Fisher beyond)."""
    if dof < 1:
        raise ValueError("a t-interval needs at least 2 values")
    return _T975[dof - 1] if dof <= len(_T975) else Z95 + 2.3723 / dof


@dataclass(frozen=True)
class Estimate:
    """One metric of one model aggregated over seeds; ``value`` is NaN when missing."""

    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    seeds: int = 0
    note: str = ""  # why the value is missing or rests on fewer seeds than were run; "" otherwise


Row = dict[str, Any]
REQUIRED_COLUMNS = ("model", "role", "method", "seed", "device", "dtype", "batch_size", "metric", "value",
                    "ci_low", "ci_high", "status", "error")


def _mean(values: list[float]) -> float:
    present = [v for v in values if not pd.isna(v)]
    return sum(present) / len(present) if present else math.nan


def aggregate(rows: pd.DataFrame | list[Row]) -> Estimate:
    """Aggregate the rows of one metric of one model over seeds (see the module docstring)."""
    rows = _records(rows) if isinstance(rows, pd.DataFrame) else rows
    if not rows:
        return Estimate(note="not measured")
    per_seed: dict[Any, list[Row]] = {}
    for r in rows:
        if r["status"] == Status.OK and not pd.isna(r["value"]):
            per_seed.setdefault(r["seed"], []).append(r)
    failed = [r for r in rows if r["status"] != Status.OK and r["seed"] not in per_seed]
    note = ""
    if failed:
        status, error = str(failed[0]["status"]), error_text(failed[0]["error"])
        reason = f"{status}: {error}" if error else status
        tried = len(per_seed) + len({r["seed"] for r in failed})
        note = reason if not per_seed else f"only {len(per_seed)} of {tried} seeds ok ({reason})"
    if not per_seed:
        return Estimate(note=note or "no valid value")
    seeds = [per_seed[s] for s in sorted(per_seed)]
    values = [_mean([r["value"] for r in seed]) for seed in seeds]
    if len(values) == 1:
        low, high = (_mean([r[key] for r in seeds[0]]) for key in ("ci_low", "ci_high"))
        return Estimate(values[0], low, high, 1, note)
    mean = sum(values) / len(values)
    declared = METRICS.get(str(rows[0]["metric"])) if str(rows[0]["metric"]) in METRICS.names() else None
    if declared is not None and declared.per_batch_size:
        # Seeds change a model's weights, not its cost: the spread across seeds of a speed or memory
        # number is measurement noise between processes, so the interval is the per-seed intervals' envelope.
        lows = [r["ci_low"] for seed in seeds for r in seed if not pd.isna(r["ci_low"])]
        highs = [r["ci_high"] for seed in seeds for r in seed if not pd.isna(r["ci_high"])]
        low, high = (min(lows), max(highs)) if lows and highs else (math.nan, math.nan)
        return Estimate(mean, low, high, len(values), note)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = t975(len(values) - 1) * sd / math.sqrt(len(values))
    low, high = mean - half, mean + half
    # Seeds that agree (a deterministic method, a model that does not depend on the seed) would give an
    # interval of zero width, as if the test set had no sampling error: keep the seeds' own average interval
    # when it is the wider one.
    own_lows = [_mean([r["ci_low"] for r in seed]) for seed in seeds]
    own_highs = [_mean([r["ci_high"] for r in seed]) for seed in seeds]
    if not any(pd.isna(v) for v in own_lows + own_highs):
        low, high = min(low, _mean(own_lows)), max(high, _mean(own_highs))
    if declared is not None and declared.unit == "fraction":
        low, high = max(low, 0.0), min(high, 1.0)
    elif all(v >= 0 for v in values):
        low = max(low, 0.0)
    return Estimate(mean, low, high, len(values), note)


def error_text(error: Any) -> str:
    """A row's error as text: '' for an empty or missing (None/NaN) one."""
    return "" if error is None or (isinstance(error, float) and math.isnan(error)) else str(error)


def _records(df: pd.DataFrame) -> list[Row]:
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def check_columns(df: pd.DataFrame) -> None:
    """Raise :class:`HarnessError` unless ``df`` has the result-table columns this module reads."""
    absent = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if absent:
        raise HarnessError(f"results table lacks columns: {', '.join(absent)}")


def _by_model(df: pd.DataFrame) -> dict[str, list[Row]]:
    """The table as plain row dicts, per model (one conversion; filtering these is cheap)."""
    check_columns(df)
    grouped: dict[str, list[Row]] = {}
    for r in _records(df[list(REQUIRED_COLUMNS)]):
        grouped.setdefault(str(r["model"]), []).append(r)
    return grouped


def batch_sizes(df: pd.DataFrame) -> list[int]:
    """The batch sizes the table holds measurements for, ascending."""
    return sorted(int(b) for b in df["batch_size"].dropna().unique())


def devices(df: pd.DataFrame) -> list[str]:
    """Devices that per-batch-size measurements were taken on, in order of appearance."""
    return [str(d) for d in pd.unique(df.loc[df["batch_size"].notna(), "device"])]


def devices_by_threads(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of a device timed with several thread counts get the count in their device label
    (``cpu, 2 threads``), so that every table and figure keeps them apart; others are unchanged."""
    if "threads" not in df.columns:
        return df
    timed = df[df["batch_size"].notna() & df["threads"].notna()]
    several = {d for d, n in timed.groupby("device")["threads"].nunique().items() if n > 1}
    if not several:
        return df
    df = df.copy()
    split = df["device"].isin(several) & df["batch_size"].notna() & df["threads"].notna()
    df.loc[split, "device"] = [f"{d}, {int(t)} thread{'s' if t != 1 else ''}"
                               for d, t in zip(df.loc[split, "device"], df.loc[split, "threads"], strict=True)]
    return df


def model_order(df: pd.DataFrame) -> list[str]:
    """Teacher(s) first, then the other models in order of appearance."""
    teachers = [str(m) for m in pd.unique(df.loc[df["role"] == "teacher", "model"])]
    return teachers + [str(m) for m in pd.unique(df["model"]) if m not in teachers]


def _prefer(rows: list[Row], device: str | None, dtype: str | None) -> list[Row]:
    """Rows of ``device``/``dtype`` when any of them is ok, else rows of ``device``, else all."""
    if device is None:
        return rows
    for same_dtype in (True, False):
        chosen = [r for r in rows if r["device"] == device and (r["dtype"] == dtype or not same_dtype)]
        if any(r["status"] == Status.OK for r in chosen):
            return chosen
    return rows


def _estimate(scope: list[Row], name: str, batch_size: int | None, device: str | None, dtype: str | None) -> Estimate:
    rows = [r for r in scope if r["metric"] == name]
    if not metric(name).per_batch_size:
        return aggregate(_prefer([r for r in rows if pd.isna(r["batch_size"])], device, dtype))
    return aggregate([r for r in rows if not pd.isna(r["batch_size"]) and r["batch_size"] == batch_size
                      and (device is None or (r["device"] == device and r["dtype"] == dtype))])


def _dtypes(scope: list[Row], device: str | None) -> list[str | None]:
    """The dtypes a model was measured in on ``device`` (one summary row each)."""
    if device is None:
        return [None]
    on_device = [r for r in scope if r["device"] == device]
    for rows in ([r for r in on_device if not pd.isna(r["batch_size"])], on_device, scope):
        if rows:
            return list(dict.fromkeys(str(r["dtype"]) for r in rows))
    return [None]


def _one_device(df: pd.DataFrame, device: str | None) -> str | None:
    found = devices(df)
    if device is not None:
        if device not in found:
            raise HarnessError(f"no measurements on device {device!r} (found: {', '.join(found) or 'none'})")
        return device
    if len(found) > 1:
        raise HarnessError(f"results hold several devices ({', '.join(found)}); pass device= to pick one")
    return found[0] if found else None


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def _missing(estimates: dict[str, Estimate]) -> dict[str, str]:
    """Each missing value's reason; the noise once, under the measure the run should have (the rounds' spread), and
    only where neither noise measure is there."""
    noise = [estimates[n] for n in NOISE_METRICS if n in estimates]
    found = {name: est.note for name, est in estimates.items() if est.note and name not in NOISE_METRICS}
    if noise and all(est.note for est in noise):
        found[NOISE_METRICS[0]] = noise[0].note
    return found


def reference_teacher(teachers: pd.DataFrame, dtype: str | None) -> pd.Series | None:
    """The teacher row to compare with: the same dtype where the teacher has it, else its first row."""
    same = teachers[teachers["dtype"] == dtype]
    if not same.empty:
        return same.iloc[0]
    return teachers.iloc[0] if not teachers.empty else None


def _versus_teacher(row: pd.Series, teacher: pd.Series | None) -> dict[str, float]:
    """Accuracy drop (pp) and the teacher/model ratios of one summary row."""
    if teacher is None:
        return dict.fromkeys(("drop_pp", "params_ratio", "size_ratio", "speedup"), math.nan)
    return {
        "drop_pp": (teacher["accuracy"] - row["accuracy"]) * 100.0,
        "params_ratio": _ratio(teacher["params"], row["params"]),
        "size_ratio": _ratio(teacher["size_bytes"], row["size_bytes"]),
        "speedup": _ratio(teacher["latency_p50_ms"], row["latency_p50_ms"]),
    }


def summary_table(df: pd.DataFrame, batch_size: int, *, device: str | None = None) -> pd.DataFrame:
    """One row per model (teacher first) at ``batch_size``, aggregated over seeds.

    Columns: model, role, method, dtype, seeds, accuracy (+ ``accuracy_low``,
    ``accuracy_high``), drop_pp (teacher accuracy minus model accuracy, in
    percentage points), params, params_ratio (teacher/model: 10.0 means 10x
    fewer), size_bytes, size_ratio, latency_p50_ms (+ ``_low``, ``_high``),
    speedup (+ ``_low``, ``_high``): the stored ``speedup_vs_teacher`` (teacher
    p50 / model p50 from the same paired rounds, bootstrap interval over
    rounds), with ``speedup_paired`` True; where the results have no such row
    for the model (runs before schema 3) it is the unpaired ratio of the two
    p50s, without an interval, and ``speedup_paired`` is False. Then
    throughput_sps, peak_memory_bytes and
    missing ({metric: why it is absent or partial}; empty when nothing is).
    A model measured in several dtypes gets one row per dtype, compared with
    the teacher in the same dtype where the teacher has it. ``device`` may be
    left out when the results hold a single device.
    """
    grouped = _by_model(df)
    device = _one_device(df, device)
    energy = df[(df["metric"] == "energy_j_per_sample") & (df["status"] == Status.OK)]
    names = SUMMARY_METRICS + (("energy_j_per_sample",) if len(energy) else ())  # a column only where measured
    records = []
    for model in model_order(df):
        scope = grouped[model]
        for dtype in _dtypes(scope, device):
            est = {name: _estimate(scope, name, batch_size, device, dtype) for name in names}
            acc, lat = est["accuracy"], est["latency_p50_ms"]
            records.append({
                "model": model, "role": str(scope[0]["role"]), "method": str(scope[0]["method"]),
                "dtype": dtype, "seeds": len({r["seed"] for r in scope}),
                "accuracy": acc.value, "accuracy_low": acc.low, "accuracy_high": acc.high,
                "params": est["params"].value, "size_bytes": est["size_bytes"].value,
                "latency_p50_ms": lat.value, "latency_p50_ms_low": lat.low, "latency_p50_ms_high": lat.high,
                "noise": next((v for v in (est[n].value for n in NOISE_METRICS) if not pd.isna(v)), math.nan),
                "throughput_sps": est["throughput_sps"].value, "peak_memory_bytes": est["peak_memory_bytes"].value,
                **({"energy_j_per_sample": est["energy_j_per_sample"].value} if len(energy) else {}),
                "missing": _missing(est),
            })
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    teachers = table[table["role"] == "teacher"]
    versus = [_versus_teacher(row, reference_teacher(teachers, row["dtype"])) for _, row in table.iterrows()]
    for key, after in (("drop_pp", "accuracy_high"), ("params_ratio", "params"),
                       ("size_ratio", "size_bytes"), ("speedup", "latency_p50_ms_high")):
        table.insert(list(table.columns).index(after) + 1, key, [v[key] for v in versus])
    return _paired_speedups(table, grouped, batch_size, device)


def _paired_speedups(table: pd.DataFrame, grouped: dict[str, list[Row]], batch_size: int,
                     device: str | None) -> pd.DataFrame:
    """Replace the unpaired p50 ratio by the stored ``speedup_vs_teacher`` wherever the model has its rows."""
    records, missing = [], []
    for row in table.to_dict("records"):
        rows = paired_rows(grouped[row["model"]], batch_size, device, row["dtype"])
        est = aggregate(rows) if rows else Estimate(row["speedup"])
        records.append({"speedup": est.value, "speedup_low": est.low, "speedup_high": est.high,
                        "speedup_paired": bool(rows)})
        missing.append({**row["missing"], **({"speedup_vs_teacher": est.note} if rows and est.note else {})})
    at = list(table.columns).index("speedup")
    table = table.drop(columns="speedup")
    for offset, key in enumerate(("speedup", "speedup_low", "speedup_high", "speedup_paired")):
        table.insert(at + offset, key, [r[key] for r in records])
    table["missing"] = pd.Series(missing, index=table.index, dtype=object)
    return table


def paired_rows(scope: list[Row], batch_size: int, device: str | None, dtype: str | None) -> list[Row]:
    """A model's ``speedup_vs_teacher`` rows at one batch size, device and dtype (any status); [] when the
    results have none (runs before schema 3)."""
    return [r for r in scope if r["metric"] == "speedup_vs_teacher" and not pd.isna(r["batch_size"])
            and r["batch_size"] == batch_size and (device is None or (r["device"] == device and r["dtype"] == dtype))]


def model_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model (teacher first) with its model-level metrics, aggregated over seeds.

    Columns: model, role, method, seeds (the seed list as text), accuracy,
    accuracy_low, accuracy_high, params, size_bytes, flops, train_seconds,
    missing (as in :func:`summary_table`). Rows of every device and dtype are
    averaged per seed.
    """
    grouped = _by_model(df)
    present = set(df["metric"])
    names = MODEL_METRICS + tuple(m for m in OPTIONAL_MODEL_METRICS if m in present)
    records = []
    for model in model_order(df):
        scope = grouped[model]
        est = {name: _estimate(scope, name, None, None, None) for name in names}
        acc = est["accuracy"]
        records.append({
            "model": model, "role": str(scope[0]["role"]), "method": str(scope[0]["method"]),
            "seeds": ", ".join(str(s) for s in sorted({r["seed"] for r in scope})),
            "accuracy": acc.value, "accuracy_low": acc.low, "accuracy_high": acc.high,
            **{name: est[name].value for name in names[1:]},
            "missing": _missing(est),
        })
    return pd.DataFrame.from_records(records)


def accuracies(df: pd.DataFrame) -> dict[str, Estimate]:
    """Each model's model-level accuracy, aggregated over seeds (rows of every device and dtype)."""
    return {model: _estimate(scope, "accuracy", None, None, None) for model, scope in _by_model(df).items()}


def verdict(ours: Estimate, other: Estimate) -> str:
    """'better' or 'worse' when the 95% intervals are disjoint, 'same' when they
    overlap, 'unknown' when a value or an interval is missing."""
    if any(math.isnan(v) for v in (ours.low, ours.high, other.low, other.high)):
        return "unknown"
    return "better" if ours.low > other.high else "worse" if ours.high < other.low else "same"


def speed_verdict(ours: Estimate, other: Estimate, floor_pct: float | None, *, higher_is_faster: bool) -> str:
    """'faster' or 'slower' when the 95% intervals are disjoint *and* the values differ by at least the
    run's A/A noise floor (percent); 'same' otherwise; 'unknown' when a value or an interval is missing.
    ``higher_is_faster``: True for speedups, False for latencies.

    >>> speed_verdict(Estimate(1.01, 1.005, 1.015), Estimate(1.0, 1.0, 1.0), 1.7, higher_is_faster=True)
    'same'
    >>> speed_verdict(Estimate(1.01, 1.005, 1.015), Estimate(1.0, 1.0, 1.0), None, higher_is_faster=True)
    'faster'
    """
    found = verdict(ours, other)
    if found in ("unknown", "same"):
        return found
    if within_floor(ours.value, other.value, floor_pct):
        return "same"
    return "faster" if (found == "better") == higher_is_faster else "slower"
