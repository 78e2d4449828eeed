"""The hardware report's files: ``report.md`` and a self-contained ``index.html`` with seaborn figures.

Tables come from :mod:`harness.report.hardware`; formatting, figure style and the
HTML page are the run report's (:mod:`harness.report.formatting`,
:mod:`harness.report.plots`, :mod:`harness.report.page`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import seaborn as sns

from harness.errors import HarnessError
from harness.report import formatting, page, plots
from harness.report.hardware import (
    SPEEDUPS,
    comparison_table,
    display_comparison,
    environment_table,
    find_machine,
    findings,
    load_machines,
)

FIGURES = {"hardware_latency": "Latency p50 against batch size on each machine (95% interval shaded)",
           "hardware_speedup": "Speedup vs the reference machine (reference machine's p50 / p50, from separate "
                               "runs, unpaired; above 1 is faster)"}


def _panels(table: pd.DataFrame, value: str, ylabel: str, band: bool, reference_line: bool):
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plots.new_figure(ncols=len(models), width=4.2)
    colours = dict(zip(dict.fromkeys(table["machine"]), sns.color_palette("colorblind", n_colors=10), strict=False))
    for ax, model in zip(axes, models, strict=True):
        for machine, line in table[table["model"] == model].groupby("machine", sort=False):
            line = line.dropna(subset=[value]).sort_values("batch_size")
            ax.plot(line["batch_size"], line[value], marker="o", color=colours[machine], label=machine)
            low, high = line.get(f"{value}_low"), line.get(f"{value}_high")
            if band and low is not None and high is not None and low.notna().all() and high.notna().all():
                ax.fill_between(line["batch_size"], low, high, color=colours[machine], alpha=0.2, linewidth=0)
        if reference_line:
            ax.axhline(1.0, color="0.5", linewidth=1, linestyle=":")
        ax.set_xscale("log", base=2)
        sizes = sorted(set(table["batch_size"]))
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_xlabel("batch size")
        ax.set_title(model)
        ax.set_ylabel(ylabel)
    # a panel with no positive value (e.g. a model only one machine measured) says so: log axes need data
    drawn = {model: bool(table.loc[table["model"] == model, value].gt(0).any()) for model in models}
    for ax, model in zip(axes, models, strict=True):
        if not drawn[model]:
            sizes = sorted(set(table["batch_size"]))
            ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)  # a log axis with no data has no limits of its own
            ax.text(0.5, 0.5, "nothing to draw", transform=ax.transAxes, ha="center", va="center", color="0.4")
        elif value == "latency_p50_ms":
            ax.set_yscale("log")
            plots.plain_log(ax, "y")
    if value != "latency_p50_ms":  # one scale for every model, so that panels compare at a glance
        low, high = min(ax.get_ylim()[0] for ax in axes), max(ax.get_ylim()[1] for ax in axes)
        for ax in axes:
            ax.set_ylim(low, high)
    plots.legend(fig, axes)
    return fig


def write_figures(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    drawn = {"hardware_latency": _panels(table, "latency_p50_ms", plots.axis_label("latency p50", "latency_p50_ms"),
                                         band=True, reference_line=False),
             "hardware_speedup": _panels(table, "speedup_vs_reference", "speedup vs reference machine (x)",
                                         band=False, reference_line=True)}
    paths = {}
    for name, fig in drawn.items():
        paths[name] = out_dir / f"{name}.png"
        fig.savefig(paths[name], dpi=plots.DPI)
    return paths


def _suite_of(rows: pd.DataFrame) -> str:
    return str(rows["suite"].iloc[0])


def render_markdown(suite: str, reference: str, table: pd.DataFrame, env: pd.DataFrame,
                    figures: dict[str, Path], left_out: list[str]) -> str:
    lines = [f"# {suite}: hardware comparison", "",
             f"Machines: {', '.join(env.columns[2:])}. Reference: {reference}. A machine is a hardware fingerprint "
             f"plus the threads and the dtype the suite asked its cells for; {SPEEDUPS}.", "",
             "## Findings", "", *(f"- {line}" for line in findings(table, reference)), "",
             "## Environment", "", "What differs besides the hardware (rows that differ first):", "",
             formatting.markdown_table(env), "", "## Latency, throughput, memory per model and batch size", "",
             formatting.markdown_table(display_comparison(table)), "",
             *(["Not measured, so not compared:", "", *(f"- {line}" for line in left_out), ""] if left_out else []),
             "## Figures", ""]
    lines += [f"![{FIGURES[name]}]({path.name})" for name, path in figures.items()]
    return "\n".join(lines) + "\n"


def render_html(suite: str, reference: str, table: pd.DataFrame, env: pd.DataFrame, figures: dict[str, Path],
                left_out: list[str]) -> str:
    heading = f"{suite}: hardware comparison"
    return page.page(heading, [
        f"<h1>{page.escape(heading)}</h1>",
        page.paragraph(f"Machines: {', '.join(env.columns[2:])}. Reference: {reference}. A machine is a hardware "
                       f"fingerprint plus the threads and the dtype the suite asked its cells for; {SPEEDUPS}."),
        "<h2>Findings</h2>" + page.bullets(findings(table, reference)),
        "<h2>Environment</h2>" + page.paragraph("What differs besides the hardware (rows that differ first).",
                                                note=True) + page.frame(env),
        "<h2>Latency, throughput, memory per model and batch size</h2>" + page.frame(display_comparison(table))
        + page.notes(left_out, "Not measured, so not compared:"),
        page.figures((name, FIGURES[name], path) for name, path in figures.items()),
    ])


def write_hardware_report(paths: Sequence[Path], out: Path, reference: str | None = None) -> Path:
    """Write ``out/<suite>/{index.html, report.md, *.png}`` comparing the machines of the runs; return index.html."""
    rows, envs, left_out = load_machines(paths)
    machines = list(envs)
    if len(machines) < 2:
        raise HarnessError(f"hardware: all runs ran on one machine ({machines[0]}): nothing to compare")
    reference = find_machine(reference, machines) if reference else machines[0]
    table = comparison_table(rows, machines, reference)
    env = environment_table(envs)
    out_dir = Path(out) / _suite_of(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(table, out_dir)
    parts = (_suite_of(rows), reference, table, env, figures, left_out)
    (out_dir / "report.md").write_text(render_markdown(*parts), encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(render_html(*parts), encoding="utf-8")
    return index
