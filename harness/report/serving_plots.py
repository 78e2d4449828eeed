"""The Serving section's figure: each model's response time against the target rate (seaborn on matplotlib).

One panel per model: p50 and p99 of the response time at each target rate of
the server scenario, the SLO (``slo_p99_ms``) as a dotted horizontal line, and
``max_qps_at_slo`` as a dash-dotted vertical line with its bracket shaded; every panel has the same scales. The
lines join the suite's target rates; the capacity search's own runs (the
manifest's ``loadgen``) are the p99 points beside them: hollow where the run
kept its p99 within the SLO, crosses where it did not (a run that gave up once
over 1% of it was late has no finite p99 and is not drawn).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from harness.manifest import Manifest
from harness.report import scenarios, tables
from harness.report.drawing import DPI, Palette, Skipped, new_figure, palette
from harness.report.plots import axis_label, plain_log
from harness.report.serving import FIGURES, slo_ms

NAME = next(iter(FIGURES))
RUN_COLUMNS = ["model", "rate", "p99_ms", "passed"]


def _points(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """(target rate, value) of metric ``name`` over seeds, where it has a finite value."""
    records = []
    for rate, group in rows[rows["metric"] == name].groupby("target_qps", sort=True):
        est = tables.aggregate(group)
        if math.isfinite(est.value):
            records.append({"rate": float(rate), "value": est.value})  # type: ignore[arg-type]
    return pd.DataFrame(records, columns=["rate", "value"])


def search_runs(manifest: Manifest) -> pd.DataFrame:
    """Each capacity search run with a finite p99, from the manifest: model, rate, p99_ms, passed."""
    cells = (manifest.loadgen or {}).get("cells", [])
    records = [{"model": cell["model"], "rate": run["qps"], "p99_ms": run["p99_ms"], "passed": run["passed"]}
               for cell in cells for run in (cell.get("capacity_search") or {}).get("runs", [])
               if run.get("search") and run.get("p99_ms") is not None]
    return pd.DataFrame(records, columns=RUN_COLUMNS)


def _panel(ax: Axes, rates: pd.DataFrame, capacity: pd.DataFrame, colour: tuple[float, ...], slo: float | None,
           model: str, searched: pd.DataFrame) -> None:
    for name, style, label in (("latency_p50_ms", "o-", "p50"), ("latency_p99_ms", "s--", "p99")):
        found = _points(rates, name)
        ax.plot(found["rate"], found["value"], style, color=colour, label=label)
    for passed, marker, label in ((True, "D", "p99, search runs within the SLO"),
                                  (False, "x", "p99, search runs over it")):
        runs = searched[searched["passed"] == passed]
        if not runs.empty:
            ax.scatter(runs["rate"], runs["p99_ms"], marker=marker, s=22, label=label, color=colour,
                       facecolors="none" if passed else colour, linewidths=1.0)
    if slo is not None:
        ax.axhline(slo, color="0.3", linewidth=1, linestyle=":", label=f"SLO: p99 ≤ {slo:g} ms")
    cap = tables.aggregate(capacity[capacity["metric"] == "max_qps_at_slo"])
    if math.isfinite(cap.value):
        ax.axvline(cap.value, color=colour, linewidth=1.2, linestyle="-.", label="max_qps_at_slo")
        if math.isfinite(cap.low) and math.isfinite(cap.high):
            ax.axvspan(cap.low, cap.high, color=colour, alpha=0.15, linewidth=0, label="its bracket")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(model)
    ax.set_xlabel(axis_label("target rate", "achieved_qps"))
    ax.set_ylabel(axis_label("response time", "latency_p99_ms"))


def latency_against_rate(rows: pd.DataFrame, slo: float | None, colours: Palette,
                         searched: pd.DataFrame | None = None) -> Figure | Skipped:
    """One panel per model with server rates measured: p50 and p99 against the target rate, the SLO and the
    capacity; :class:`Skipped` when no model has a response time at any rate."""
    rates, capacity = scenarios.per_rate(rows), scenarios.capacity(rows)
    ok = rates[rates["metric"].isin(("latency_p50_ms", "latency_p99_ms")) & rates["value"].notna()]
    models = [m for m in tables.model_order(rows) if (ok["model"] == m).any()]
    if not models:
        return Skipped("no model has a response time at any target rate of the server scenario")
    fig, axes = new_figure(len(models), width=4.2)
    for ax, model in zip(axes, models, strict=True):
        runs = searched[searched["model"] == model] if searched is not None else pd.DataFrame(columns=RUN_COLUMNS)
        _panel(ax, rates[rates["model"] == model], capacity[capacity["model"] == model], colours[model], slo, model,
               runs)
    for ax in axes[1:]:
        ax.set_ylabel("")
    for limits in ("xlim", "ylim"):  # one scale for every model, so that panels compare at a glance
        ends = [getattr(ax, f"get_{limits}")() for ax in axes]
        for ax in axes:
            getattr(ax, f"set_{limits}")(min(low for low, _ in ends), max(high for _, high in ends))
    for ax in axes:
        plain_log(ax)
        low, high = ax.get_xlim()
        if high > 300 * low:  # over 2.5 decades: 1, 2, 5 of each would run into each other
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
    handles: dict[str, Artist] = {}
    for ax in axes:  # a panel without a capacity has no line for it: the legend takes every panel's
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", frameon=False)
    return fig


def write_figures(df: pd.DataFrame, manifest: Manifest, out_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Write the Serving section's figure into ``out_dir`` when the run has server rows; return (name -> path,
    name -> why it was left out), both empty for a run without a server scenario."""
    rows = scenarios.of(df, scenarios.SERVER)
    if rows.empty:
        return {}, {}
    drawn = latency_against_rate(rows, slo_ms(manifest), palette(df), search_runs(manifest))
    if isinstance(drawn, Skipped):
        return {}, {NAME: drawn.reason}
    path = Path(out_dir) / f"{NAME}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn.savefig(path, dpi=DPI)
    return {NAME: path}, {}
