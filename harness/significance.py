"""The statistics of a comparison: one cell of a gate (a metric of a model at one variant and batch size),
the rows and latency observations each side has of it, and the one-sided test that decides whether a
change is real. :mod:`harness.compare` turns these into verdicts.

The test follows what each side holds:

- accuracy, where both runs kept per-example predictions of the model on the
  same test examples (same examples, same labels): the exact paired test over
  test examples, one-sided in each direction, each example counted once
  whatever the seeds (:func:`paired_accuracy`; the exact McNemar test with one
  seed a side);
- statistics of the latency samples (p50, p90, p95, p99, mean, throughput):
  Mann-Whitney U (exact for few rounds) on *the statistic the gate names*,
  computed in each paired round from that round's window (a p99 gate tests
  the rounds' p99s, not their medians: a tail can grow under a steady median);
  throughput on each round's mean latency, its inverse. The round is the unit
  (schema 3: samples of one round share the machine's moment, so they are not
  independent); a run written before rounds were recorded falls back to its
  raw samples. Seeds are pooled (they change the weights, not the cost). The
  rounds measure the *precision within each run*; runs drift between each
  other by more than rounds can see (docs/statistics.md), so such a p-value is
  not evidence of a change on its own: the gate also needs the change beyond
  its bound and the A/A noise floor, and ``speedup_vs_teacher`` (paired within
  a run, drift cancelled) is the gate for "did my change slow the student".
  Where the rounds cannot reach the gate's alpha at all (3 against 3: the
  smallest p is 0.05), the test is *undecidable*, never a pass;
- the rows of a serving scenario (offline, server: no raw samples; a server
  rate's latency is one run's order statistic, a capacity's interval the
  search's bracket): no test, the values against the bound (:func:`bound_only`);
- per-batch-size metrics with stored intervals and no samples
  (``speedup_vs_teacher``: a bootstrap over paired rounds): a z test, each
  side's standard error read from its 95% intervals, seeds pooled as for latency;
- other metrics with two or more seeds on each side: Welch's t on the seeds' values (accuracy of runs
  without predictions, or of other test examples, included);
- one seed: the same z test from the stored 95% intervals (accuracy's bootstrap interval);
- no spread at all (params, size_bytes, peak_memory_bytes): exact, no p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import pandas as pd

from harness import plan
from harness.measure.stats import Z95
from harness.metrics import Metric
from harness.rows import SINGLE_STREAM, Status
from harness.scenarios import is_capacity, scenario_of

#: the test column of a serving scenario's cell (:func:`bound_only`)
BOUND_TEST = "bound on the values"


class Side(Protocol):
    """One side of a comparison, as the statistics read it (:class:`harness.compare.RunData`)."""

    @property
    def rows(self) -> pd.DataFrame: ...

    @property
    def samples(self) -> pd.DataFrame: ...

    @property
    def predictions(self) -> pd.DataFrame | None: ...


def _rate(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:g} qps"


def with_cell_key(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``_cell``: its variant columns' values joined (``cpu|float32|eager|``), NA as empty, then the
    server scenario's target rate (``...|server|500 qps``; empty elsewhere, and in the samples, which have none),
    so that rates are neither pooled nor collided; a row measured at a noise level (accuracy_under_noise) adds
    it (``...|noise 0.5``), so levels are never pooled either."""
    columns = [c for c in plan.VARIANT_COLUMNS if c in df.columns]  # seeds are pooled
    values = zip(*(df[c].astype("string").fillna("").tolist() for c in columns), strict=True)
    rates = [_rate(q) for q in df["target_qps"].astype(float)] if "target_qps" in df.columns else [""] * len(df)
    keys = ["|".join((*v, rate)) for v, rate in zip(values, rates, strict=True)]
    if "noise_sigma" in df.columns:
        keys = [k if pd.isna(s) else f"{k}|noise {float(s):g}" for k, s in zip(keys, df["noise_sigma"], strict=True)]
    return df.assign(_cell=pd.Series(keys, index=df.index, dtype="string"))


def variant_label(key: str, keys: set[str]) -> str:
    """What tells this cell from the model's other cells: the values of the columns that vary among ``keys``."""
    width = max((k.count("|") + 1 for k in keys), default=0)

    def parts(k: str) -> list[str]:
        return (k.split("|") + [""] * width)[:width]

    split = [parts(k) for k in sorted(keys)]
    varying = [i for i in range(width) if len({p[i] for p in split}) > 1]
    return ", ".join(v for i, v in enumerate(parts(key)) if i in varying and v)


@dataclass(frozen=True)
class Cell:
    """One metric of one model at one variant (device, dtype, threads, backend, seq_len) and batch size."""

    model: str
    metric: Metric
    device: str | None
    batch_size: int | None
    key: str | None = None  # the variant (``with_cell_key``); None: every row of the model and metric
    label: str = ""

    def _select(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.key is not None:
            df = df[df["_cell"] == self.key]
        if self.batch_size is not None:
            df = df[df["batch_size"] == self.batch_size]
        return df

    def rows(self, side: Side) -> pd.DataFrame:
        df = side.rows
        return self._select(df[(df["model"] == self.model) & (df["metric"] == self.metric.name)])

    def noise(self, side: Side) -> tuple[float, str]:
        """The cell's noise on one side and what it is: the rounds' spread, or for a run written before it was
        recorded the raw samples' IQR/median (:data:`harness.measure.stats.NOISE_METRICS`); NaN where neither."""
        from harness.measure.stats import NOISE_METRICS

        df = side.rows
        for name in NOISE_METRICS:
            found = self._select(df[(df["model"] == self.model) & (df["metric"] == name) & (df["status"] == Status.OK)])
            if len(found):
                return float(found["value"].max()), name
        return math.nan, ""

    def samples(self, side: Side) -> tuple[np.ndarray, str]:
        """The cell's independent latency observations of the statistic its metric names (:data:`ROUND_STATISTIC`)
        and what they are: that statistic of each paired round's window (schema 3: samples within one round share
        the machine's moment, so they are not independent), or the raw samples of a run written before rounds
        were recorded (then only a p50 is meaningful per sample, and the test is of the samples' distribution)."""
        s = side.samples
        mine = self._select(s[s["model"] == self.model])
        if len(mine) and mine["round"].notna().all():
            statistic = round_statistic(self.metric.name)
            grouped = mine.groupby(["seed", "round"])["latency_ms"]
            return grouped.agg(statistic).to_numpy(dtype=float), "rounds"
        return mine["latency_ms"].to_numpy(dtype=float), "samples"


#: the percentile of a round's window that each latency gate tests (mean: the window's mean latency; throughput is
#: batch size x 1000 / mean latency, so a throughput gate tests the rounds' mean latencies, larger being worse)
ROUND_STATISTIC: dict[str, float | str] = {"latency_p50_ms": 50.0, "latency_p90_ms": 90.0, "latency_p95_ms": 95.0,
                                           "latency_p99_ms": 99.0, "latency_mean_ms": "mean", "throughput_sps": "mean"}


def round_statistic(metric_name: str) -> Callable[[pd.Series], float]:
    """The function of one round's window samples that a gate on ``metric_name`` compares (the median for a
    latency metric not in :data:`ROUND_STATISTIC`).

    >>> window = pd.Series([1.0, 1.0, 1.0, 1.0, 9.0])
    >>> round_statistic("latency_p50_ms")(window), round_statistic("latency_mean_ms")(window)
    (1.0, 2.6)
    """
    which = ROUND_STATISTIC.get(metric_name, 50.0)
    if isinstance(which, str):  # "mean"
        return lambda window: float(np.mean(window))
    return lambda window: float(np.percentile(window, which))


@dataclass(frozen=True)
class Test:
    """What the statistics say about one cell: one-sided p-values that the candidate is worse and better (None:
    no test applies), the test's name, and the kind of evidence it rests on (:data:`EVIDENCE`).
    ``smallest_p``: the smallest p the design could give (rank tests on few rounds); ``needed``: the rounds a
    side that would reach the gate's alpha, where the design cannot."""

    p_worse: float | None
    p_better: float | None
    name: str
    evidence: str
    smallest_p: float | None = None
    needed: int | None = None

    def undecidable(self, alpha: float) -> bool:
        """The design cannot reach ``alpha``: even the most extreme data would not be significant."""
        return self.smallest_p is not None and self.smallest_p >= alpha


#: what a verdict rests on, as compare's output names it
EVIDENCE = {
    "examples": "test examples, paired (each once)",
    "rounds": "rounds within each run: precision, not between-run drift",
    "paired rounds": "paired rounds within each run (drift cancels)",
    "seeds": "seeds (training runs)",
    "intervals": "stored 95% intervals",
    "bound": "values against the bound",
    "exact": "exact values",
}


def ok_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["status"] == Status.OK) & rows["value"].notna()]


def why_absent(rows: pd.DataFrame) -> str:
    errors = [str(e) for e in rows["error"] if isinstance(e, str) and e]
    return errors[0] if errors else "no row"


def _half_widths(rows: pd.DataFrame) -> np.ndarray:
    """Each row's 95% interval half-width, where it has one."""
    half = ((rows["ci_high"] - rows["ci_low"]) / 2).to_numpy(dtype=float)
    return half[np.isfinite(half)]


def _interval_standard_error(rows: pd.DataFrame) -> float:
    """Of the mean over the rows that have a stored 95% interval, each row's standard error read from it
    (half-width / 1.96): sqrt(sum of se_i^2) / k over those k rows; 0 without any. Rows without an interval add
    nothing to k: they are not evidence of precision."""
    half = _half_widths(rows)
    return float(math.sqrt(float(np.sum((half / Z95) ** 2))) / half.size) if half.size else 0.0


def _standard_error(rows: pd.DataFrame) -> float:
    """Of the mean over seeds: the seeds' spread, or with one seed (or none) its stored 95% interval."""
    values = rows["value"].to_numpy(dtype=float)
    if len(values) >= 2 and values.std(ddof=1) > 0:
        return float(values.std(ddof=1) / math.sqrt(len(values)))
    return _interval_standard_error(rows)


def _z_test(m: Metric, b_rows: pd.DataFrame, c_rows: pd.DataFrame, se: float, evidence: str) -> Test:
    """One-sided p-values (worse, better) of the difference of the means, for a standard error ``se`` > 0."""
    from scipy import stats

    z = worse_by(m, float(b_rows["value"].mean()), float(c_rows["value"].mean())) / se
    return Test(float(stats.norm.sf(z)), float(stats.norm.cdf(z)), "z, from the 95% intervals", EVIDENCE[evidence])


def _by_seed(side: Side, cell: Cell) -> dict[int, pd.DataFrame]:
    """Seed -> the cell's model's predictions on one side by example, in the cell's dtype where the model has
    predictions in it, else in the dtype it was first evaluated in (a quantized model's own); {} without any."""
    predictions = side.predictions
    if predictions is None or predictions.empty:
        return {}
    mine = predictions[predictions["model"] == cell.model]
    kept = list(dict.fromkeys(str(d) for d in mine["dtype"]))
    rows = cell.rows(side)["dtype"]
    wanted = str(rows.iloc[0]) if len(rows) and str(rows.iloc[0]) in kept else (kept[0] if kept else "")
    mine = mine[mine["dtype"] == wanted]
    return {int(cast(int, seed)): rows.sort_values("example") for seed, rows in mine.groupby("seed")}


def paired_accuracy(cell: Cell, baseline: Side, candidate: Side) -> tuple[float, float, str] | None:
    """For an accuracy cell whose model both sides kept predictions of on the same test examples: one-sided
    p-values that the candidate is worse, and better, and the test's name; None otherwise. The unit is the test
    example, counted once (:func:`harness.measure.paired_quality.paired_accuracy`): each side's correctness is
    averaged over its distinct seeds (a cached model's rerun, or a deterministic method's seeds, predict
    identically and count once), and with one seed a side the test is the exact McNemar test."""
    from harness.measure.paired_quality import paired_accuracy as paired_test

    if cell.metric.name != "accuracy":
        return None
    before, after = _by_seed(baseline, cell), _by_seed(candidate, cell)
    if not before or not after:
        return None
    first = next(iter(before.values()))
    same = all(side[s][k].reset_index(drop=True).equals(first[k].reset_index(drop=True))
               for side in (before, after) for s in side for k in ("example", "label"))
    if not same:
        return None
    old, new = (np.stack([side[s]["correct"].to_numpy(dtype=bool) for s in sorted(side)]) for side in (before, after))
    found = paired_test(new, old)
    seeds = f", {len(before)} vs {len(after)} seeds" if len(before) > 1 or len(after) > 1 else ""
    return found.p_worse, found.p_better, f"{found.test}, {found.discordant} examples differ{seeds}"


def bound_only(rows: pd.DataFrame) -> str:
    """Why a cell of a serving scenario (offline, server) is judged on its values against the gate's bound alone,
    with no test; '' for the others. Such rows keep no raw samples (only single_stream cells do), and their
    interval, where they have one, is not a sampling interval."""
    if rows.empty or (scenario_of(rows) == SINGLE_STREAM).all():
        return ""
    if is_capacity(rows):
        return ("values against the bound, no test: a capacity's interval is its search's bracket [highest pass, "
                "lowest miss], not a sampling interval")
    return "values against the bound, no test: a serving scenario keeps no raw samples"


def _rank_test(cell: Cell, baseline: Side, candidate: Side, alpha: float) -> Test | None:
    """Mann-Whitney U on the rounds' own statistic (:meth:`Cell.samples`), or None with too few observations."""
    from scipy import stats

    from harness.measure.stats import fewest_rounds, smallest_rank_p

    (b, b_unit), (c, c_unit) = cell.samples(baseline), cell.samples(candidate)
    if len(b) < 2 or len(c) < 2:
        return None
    # larger latency statistics are worse, whichever the metric's direction (throughput: its rounds' mean latency)
    worse = stats.mannwhitneyu(c, b, alternative="greater").pvalue
    better = stats.mannwhitneyu(c, b, alternative="less").pvalue
    unit = "rounds" if b_unit == c_unit == "rounds" else "samples"
    statistic = ROUND_STATISTIC.get(cell.metric.name, 50.0)
    named = "mean" if statistic == "mean" else f"p{statistic:g}"
    smallest = smallest_rank_p(len(b), len(c))
    name = f"mann-whitney U on each round's {named}, {len(b)} vs {len(c)} rounds" if unit == "rounds" else \
        f"mann-whitney U, {len(b)} vs {len(c)} samples"
    return Test(float(worse), float(better), name,
                EVIDENCE["rounds"], smallest, fewest_rounds(alpha) if smallest >= alpha else None)


def significance(cell: Cell, baseline: Side, candidate: Side, alpha: float = 0.05) -> Test:
    """One-sided p-values that the candidate is worse, and better, than the baseline; the test's name and the kind
    of evidence it rests on.

    ``None`` for both when nothing varies (an exact comparison), or for a serving scenario's cell, judged on its
    values alone (:func:`bound_only`). A rank test on rounds records the smallest p its design can give, so that a
    gate at ``alpha`` knows when it cannot decide.
    """
    from scipy import stats

    paired = paired_accuracy(cell, baseline, candidate)
    if paired is not None:
        return Test(*paired, EVIDENCE["examples"])
    if bound_only(pd.concat([cell.rows(baseline), cell.rows(candidate)])):
        return Test(None, None, BOUND_TEST, EVIDENCE["bound"])

    if cell.metric.from_latency_samples and cell.batch_size is not None:
        ranked = _rank_test(cell, baseline, candidate, alpha)
        if ranked is not None:
            return ranked
    b_rows, c_rows = ok_rows(cell.rows(baseline)), ok_rows(cell.rows(candidate))
    if cell.metric.per_batch_size and _half_widths(b_rows).size and _half_widths(c_rows).size:
        # a timing with an interval over rounds (speedup_vs_teacher): seeds change the weights, not the cost
        se = math.hypot(_interval_standard_error(b_rows), _interval_standard_error(c_rows))
        if se > 0:
            return _z_test(cell.metric, b_rows, c_rows, se,
                           "paired rounds" if cell.metric.relative_to_teacher else "intervals")
    b, c = b_rows["value"].to_numpy(dtype=float), c_rows["value"].to_numpy(dtype=float)
    lower = "less" if cell.metric.higher_is_better else "greater"  # the direction that is worse
    if len(b) >= 2 and len(c) >= 2 and (b.std() > 0 or c.std() > 0):
        worse = stats.ttest_ind(c, b, equal_var=False, alternative=lower).pvalue
        better = stats.ttest_ind(c, b, equal_var=False, alternative="greater" if lower == "less" else "less").pvalue
        return Test(float(worse), float(better), f"welch t, {len(b)} vs {len(c)} seeds", EVIDENCE["seeds"])
    se = math.hypot(_standard_error(b_rows), _standard_error(c_rows))
    if not se > 0:
        return Test(None, None, "exact", EVIDENCE["exact"])
    return _z_test(cell.metric, b_rows, c_rows, se, "intervals")


def worse_by(m: Metric, baseline: float, candidate: float) -> float:
    """How much worse the candidate is, in the metric's unit (negative: better)."""
    return baseline - candidate if m.higher_is_better else candidate - baseline
