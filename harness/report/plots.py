"""Figures of one run, drawn from the results table alone (seaborn on matplotlib, Agg backend).

Each figure function takes the results table and a palette and returns a
matplotlib :class:`~matplotlib.figure.Figure`, or :class:`Skipped` with the
reason when the data cannot support it: a figure is never drawn empty. One
palette (model -> colour, teacher first) is built per report by
:func:`palette`, so a model has the same colour in every figure.

The Pareto frontier of the accuracy-against-latency figures is the
leaderboard's (:func:`harness.report.ranking.pareto_column`): a model is off
it only when another is clearly more accurate (the paired test over the run's
test examples, Holm-adjusted, where both have predictions; else disjoint
intervals) and not clearly slower, or clearly faster (disjoint intervals and
beyond the run's A/A noise floor) and not clearly less accurate.

>>> axis_label("latency p50", "latency_p50_ms")
'latency p50 (ms)'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import cast

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from harness.metrics import metric
from harness.report import quality_plots, scenarios, tables
from harness.report.drawing import DPI, Palette, Skipped, legend, new_figure, palette
from harness.report.formatting import human_bytes
from harness.report.headline import cell
from harness.report.ranking import AccuracyTests, paired_accuracy_tests, pareto_column
from harness.rows import Status


def axis_label(text: str, name: str) -> str:
    """An axis label with the unit :mod:`harness.metrics` declares: fractions are drawn as %."""
    unit = metric(name).unit
    return f"{text} ({'%' if unit == 'fraction' else unit})"


def plain_log(ax: Axes, which: str = "xy") -> None:
    """Log axes labelled with plain numbers (0.05, 100) rather than powers, minor labels dropped.

    Major ticks sit at 1, 2 and 5 of each decade, so an axis spanning less than
    a decade (latencies of 0.02 to 0.05 ms) still has labelled ticks; where
    fewer than two of those fall in view (0.019 to 0.036 ms), at most five
    evenly spaced ones, so that their labels never run into each other.
    """
    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        low, high = sorted(ax.get_xlim() if name == "x" else ax.get_ylim())
        exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1) if low > 0 else range(0)
        in_view = [m * 10.0**e for e in exponents for m in (1, 2, 5) if low <= m * 10.0**e <= high]
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)) if len(in_view) >= 2
                               else MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _device(df: pd.DataFrame) -> str | None:
    found = tables.devices(df)
    return found[0] if found else None


def per_batch(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """One row per (model, dtype, batch size) of per-batch metric ``name`` on the first device with ok values:
    model, dtype, label, batch_size, value, low, high (aggregated over seeds by :func:`tables.aggregate`)."""
    device = _device(df)
    rows = df[(df["metric"] == name) & df["batch_size"].notna() & (df["device"] == device)]
    several_dtypes = rows["dtype"].nunique() > 1
    records = []
    for model in tables.model_order(df):
        for (dtype, size), group in rows[rows["model"] == model].groupby(["dtype", "batch_size"], sort=True):
            est = tables.aggregate(group)
            if not math.isnan(est.value):
                label = f"{model} ({dtype})" if several_dtypes else model
                records.append({"model": model, "dtype": dtype, "label": label, "batch_size": int(cast(int, size)),
                                "value": est.value, "low": est.low, "high": est.high})
    return pd.DataFrame(records, columns=["model", "dtype", "label", "batch_size", "value", "low", "high"])


def _lines(ax: Axes, data: pd.DataFrame, colours: Palette, band: bool) -> None:
    for label, line in data.groupby("label", sort=False):
        line = line.sort_values("batch_size")
        colour = colours[str(line["model"].iloc[0])]
        dashed = str(label) != str(line["model"].iloc[0]) and line["dtype"].iloc[0] != "float32"
        ax.plot(line["batch_size"], line["value"], marker="o", color=colour, label=label,
                linestyle="--" if dashed else "-")
        if band and line["low"].notna().all() and line["high"].notna().all():
            ax.fill_between(line["batch_size"], line["low"], line["high"], color=colour, alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    sizes = sorted(set(data["batch_size"]))
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch size")


def _pareto_panel(ax: Axes, table: pd.DataFrame, colours: Palette, title: str) -> None:
    """Accuracy against latency p50 of one summary table (log x), its ``pareto`` rows outlined and joined by a
    step line."""
    several = table["dtype"].nunique() > 1
    names = [f"{m} ({d})" if several else m for m, d in zip(table["model"], table["dtype"], strict=True)]
    points = list(zip(names, table["latency_p50_ms"], 100 * table["accuracy"], strict=True))
    front = {name for name, on in zip(names, table["pareto"], strict=True) if on}
    for (name, cost, value), model in zip(points, table["model"], strict=True):
        ax.scatter([cost], [value], color=colours[model], s=60, label=model, zorder=3,
                   edgecolor="black" if name in front else "none", linewidth=1.5,
                   gid="pareto" if name in front else None)
    members = sorted((c, v) for n, c, v in points if n in front)
    ax.step([c for c, _ in members], [v for _, v in members], where="post", color="grey", linestyle=":",
            zorder=2, label="Pareto frontier")
    ax.set_xscale("log")
    plain_log(ax, "x")
    ax.set_title(title)
    ax.set_xlabel(axis_label("latency p50", "latency_p50_ms"))
    ax.set_ylabel(axis_label("accuracy", "accuracy"))


def pareto_tests(df: pd.DataFrame, predictions: pd.DataFrame | None) -> AccuracyTests:
    """The paired accuracy tests the Pareto frontiers are judged with: every two rows of the summary table (the
    same models and dtypes at every batch size of the first device) over the run's ``predictions``, Holm-adjusted
    across them, as the leaderboard tests its rows (:func:`harness.report.ranking.paired_accuracy_tests`)."""
    device = _device(df)
    sizes = tables.batch_sizes(df[df["device"] == device]) if device else []
    if not sizes or predictions is None or predictions.empty:
        return AccuracyTests()
    runs = {"": {str(r) for r in predictions["run_id"].unique()}}
    return paired_accuracy_tests(tables.summary_table(df, sizes[0], device=device), runs, predictions)


def _placed(df: pd.DataFrame, size: int, device: str, tests: AccuracyTests | None,
            floor_pct: float | None) -> pd.DataFrame:
    """The summary table at ``size`` on ``device``, the rows with both an accuracy and a latency, with the
    leaderboard's Pareto flags (``pareto``): the paired accuracy ``tests`` (:func:`pareto_tests`; None: intervals
    alone), intervals and noise floor (``floor_pct``)."""
    table = tables.summary_table(df, size, device=device)
    if table.empty:
        return table
    table["pareto"] = pareto_column(table, tests or AccuracyTests(), floor_pct)
    return table[table["accuracy"].notna() & table["latency_p50_ms"].notna()]


def accuracy_vs_latency(df: pd.DataFrame, colours: Palette, tests: AccuracyTests | None = None,
                        floor_pct: float | None = None) -> Figure | Skipped:
    """Accuracy against latency p50, one panel per batch size (log x); the Pareto frontier (judged with the run's
    paired accuracy ``tests`` and A/A noise floor ``floor_pct``, :func:`_placed`) as a step line."""
    device = _device(df)
    sizes = tables.batch_sizes(df[df["device"] == device]) if device else []
    panels = [(size, table) for size in sizes if not (table := _placed(df, size, str(device), tests, floor_pct)).empty]
    if not panels:
        return Skipped("no model has both an accuracy and a latency: nothing to place")
    fig, axes = new_figure(len(panels), width=4.2)
    for ax, (size, table) in zip(axes, panels, strict=True):
        _pareto_panel(ax, table, colours, f"batch size {size} ({device})")
    for ax in axes[1:]:
        ax.set_ylabel("")
    legend(fig, axes)
    return fig


def pareto(df: pd.DataFrame, colours: Palette, tests: AccuracyTests | None = None,
           floor_pct: float | None = None) -> Figure | Skipped:
    """Accuracy against latency p50 where the report's headline takes its speedup (the first device's smallest
    batch size, :func:`harness.report.headline.cell`), the Pareto frontier (as in :func:`accuracy_vs_latency`)
    outlined: the figure beside it."""
    where = cell(df)
    table = _placed(df, where[1], where[0], tests, floor_pct) if where else pd.DataFrame()
    if table.empty:
        return Skipped("no model has both an accuracy and a latency: nothing to place")
    fig, (ax,) = new_figure(width=4.6)
    _pareto_panel(ax, table, colours, f"batch size {where[1]} ({where[0]})" if where else "")
    legend(fig, [ax])
    return fig


def latency_throughput(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Latency p50 (with its 95% interval as a band) and throughput against batch size, log-log."""
    latency, throughput = per_batch(df, "latency_p50_ms"), per_batch(df, "throughput_sps")
    if latency.empty:
        return Skipped("no latency was measured")
    fig, (left, right) = new_figure(2, width=4.8)
    _lines(left, latency, colours, band=True)
    left.set_yscale("log")
    plain_log(left, "y")
    left.set_ylabel(axis_label("latency p50, 95% interval as band", "latency_p50_ms"))
    if throughput.empty:
        right.set_axis_off()
        right.text(0.5, 0.5, "no throughput was measured", ha="center", va="center", transform=right.transAxes)
    else:
        _lines(right, throughput, colours, band=False)
        right.set_yscale("log")
        plain_log(right, "y")
        right.set_ylabel(axis_label("throughput", "throughput_sps"))
    legend(fig, [left])
    return fig


def _metric_by_batch(df: pd.DataFrame, colours: Palette, name: str, label: str, absent: str,
                     band: bool) -> Figure | Skipped:
    """One per-batch-size metric against batch size, log y, one line per model."""
    data = per_batch(df, name)
    if data.empty:
        return Skipped(absent)
    fig, (ax,) = new_figure()
    _lines(ax, data, colours, band=band)
    ax.set_yscale("log")
    plain_log(ax, "y")
    if metric(name).unit == "bytes":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_bytes(v)))
    ax.set_ylabel(axis_label(label, name))
    legend(fig, [ax])
    return fig


def speedup_vs_teacher(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """The paired speedup vs the teacher (teacher p50 / model p50 from the same rounds) against batch size, its
    95% interval as a band; left out for runs without the metric (their tables show the unpaired ratio)."""
    drawn = _metric_by_batch(df, colours, "speedup_vs_teacher", "speedup vs teacher, paired, 95% interval as band",
                             "no paired speedup_vs_teacher in these results (a run before schema 3); the tables "
                             "give the unpaired ratio of p50s", band=True)
    if isinstance(drawn, Figure):
        drawn.axes[0].axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    return drawn


def peak_memory(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Peak memory of one forward against batch size."""
    return _metric_by_batch(df, colours, "peak_memory_bytes", "peak memory", "no peak memory was measured",
                            band=False)


def compression(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Compression ratio (teacher / model, params and size) against accuracy drop."""
    models = tables.model_table(df)
    teacher = models[models["role"] == "teacher"]
    if teacher.empty:
        return Skipped("the run has no teacher to compare with")
    ref = teacher.iloc[0]
    fig, axes = new_figure(2, width=4.8)
    drawn = 0
    for ax, key, text in ((axes[0], "params", "params ratio"), (axes[1], "size_bytes", "size ratio")):
        for row in models.itertuples(index=False):
            ratio = getattr(ref, key) / getattr(row, key) if getattr(row, key) else math.nan
            drop = 100 * (ref.accuracy - row.accuracy)
            if not (math.isnan(ratio) or math.isnan(drop)):
                ax.scatter([ratio], [drop], color=colours[str(row.model)], s=60, label=row.model, zorder=3)
                drawn += 1
        ax.set_xscale("log")
        plain_log(ax, "x")
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xlabel(f"{text}, teacher / model (x)")
        ax.set_ylabel("accuracy drop vs teacher (pp)")
    if not drawn:
        return Skipped("no model has both its accuracy and its size")
    legend(fig, axes)
    return fig


def energy(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """GPU energy per sample against batch size, where it was measured."""
    return _metric_by_batch(df, colours, "energy_j_per_sample", "energy per sample",
                            "no energy was measured: it needs a cuda device with NVML", band=True)


def seed_accuracy(df: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Accuracy of each seed per model (points) and the mean with its 95% interval across seeds."""
    rows = df[(df["metric"] == "accuracy") & df["batch_size"].isna() & (df["status"] == Status.OK)]
    per_seed = rows.groupby(["model", "seed"], sort=False)["value"].mean().reset_index()
    counts = per_seed.groupby("model")["seed"].nunique()
    if per_seed.empty:
        return Skipped("no accuracy was measured")
    if counts.max() < 2:
        return Skipped("one seed: every model ran with a single seed, so there is no spread across seeds to show")
    order = [m for m in tables.model_order(df) if m in counts.index]
    estimates = tables.accuracies(df)
    fig, (ax,) = new_figure(width=max(5.0, 1.2 * len(order)))
    for x, model in enumerate(order):
        values = 100 * per_seed.loc[per_seed["model"] == model, "value"]
        offsets = [(i - (len(values) - 1) / 2) * 0.06 for i in range(len(values))]
        ax.scatter([x - 0.15 + o for o in offsets], values, color=colours[model], s=25, alpha=0.8, label=model)
        est = estimates[model]
        if not math.isnan(est.low):
            spread = [[100 * (est.value - est.low)], [100 * (est.high - est.value)]]
            ax.errorbar([x + 0.15], [100 * est.value], yerr=spread, fmt="D", color=colours[model], capsize=4)
    ax.set_xticks(range(len(order)), order, rotation=20, ha="right")
    ax.set_ylabel(axis_label("accuracy: seeds (dots), mean and 95% interval (diamond)", "accuracy"))
    return fig


FigureFn = Callable[[pd.DataFrame, Palette], Figure | Skipped]
#: file stem -> (title, function), in report order
FIGURES: dict[str, tuple[str, FigureFn]] = {
    "pareto": ("Accuracy against latency p50 where the headline's speedup is taken, Pareto frontier outlined",
               pareto),
    "accuracy_vs_latency": ("Accuracy against latency p50 per batch size, Pareto frontier outlined",
                            accuracy_vs_latency),
    "latency_throughput": ("Latency p50 and throughput against batch size", latency_throughput),
    "speedup_vs_teacher": ("Paired speedup vs the teacher against batch size", speedup_vs_teacher),
    "peak_memory": ("Peak memory against batch size", peak_memory),
    "compression": ("Compression ratio against accuracy drop", compression),
    "energy": ("Energy per sample against batch size", energy),
    "seed_accuracy": ("Accuracy across seeds per model", seed_accuracy),
}


def title(name: str) -> str:
    """The caption of figure ``name`` (drawn from the results, or from the predictions)."""
    return FIGURES[name][0] if name in FIGURES else quality_plots.FIGURES[name][0]


def _save(result: Figure | Skipped, name: str, out_dir: Path, written: dict[str, Path],
          skipped: dict[str, str]) -> None:
    if isinstance(result, Skipped):
        skipped[name] = result.reason
        return
    written[name] = out_dir / f"{name}.png"
    result.savefig(written[name], dpi=DPI)


def write_figures(df: pd.DataFrame, out_dir: Path, predictions: pd.DataFrame | None = None,
                  floor_pct: float | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """Write ``out_dir/<name>.png`` for each figure the data supports, those of the results table (its
    single_stream rows), then those of quality beyond top-1 (:mod:`harness.report.quality_plots`, from
    ``predictions`` where they need them); the Pareto frontiers are judged with ``predictions`` and the run's
    A/A noise floor ``floor_pct``, as the leaderboard judges its Pareto column;
    return (written name -> path, skipped name -> reason)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colours = palette(df)
    df = scenarios.single_stream(df)  # the Serving section draws its own (harness.report.serving_plots)
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    tests = pareto_tests(df, predictions)  # once, for both figures
    judged: dict[str, FigureFn] = {name: partial(draw, tests=tests, floor_pct=floor_pct)
                                   for name, draw in (("pareto", pareto), ("accuracy_vs_latency", accuracy_vs_latency))}
    for name, (_, draw) in FIGURES.items():
        _save(judged.get(name, draw)(df, colours), name, out_dir, written, skipped)
    examples = quality_plots.no_predictions() if predictions is None else predictions
    for name, (_, drawn) in quality_plots.FIGURES.items():
        _save(drawn(df, examples, colours), name, out_dir, written, skipped)
    return written, skipped
