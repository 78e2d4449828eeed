"""The HTML rendering of a run's :class:`~harness.report.model.Report`: one self-contained ``index.html``.

It lays out the same report object as ``report.md``
(:mod:`harness.report.markdown`) with the helpers of
:mod:`harness.report.page`; the answer to "which student do I ship?" comes
first, with the Pareto figure beside it.

>>> write_html_report(df, manifest, Path("reports/quick/run-1"))  # doctest: +SKIP
PosixPath('reports/quick/run-1/index.html')
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.report import noise, page, tables
from harness.report.content import build_report
from harness.report.markdown import write_markdown_report
from harness.report.model import Report, Section, Table


def table(shown: Table, level: int = 3) -> str:
    """A table under its heading (at ``level``), with the paragraph above it and its notes under it."""
    return "".join([f"<h{level}>{page.escape(shown.title)}</h{level}>" if shown.title else "",
                    page.paragraph(shown.intro), page.table(shown.columns, shown.rows) if shown.rows else "",
                    *(page.paragraph(note, note=True) for note in shown.notes), page.notes(shown.missing)])


def section(part: Section | None) -> str:
    """A section under its heading: paragraphs, tables, figures, then a list ('' for None)."""
    if part is None:
        return ""
    return "".join([f"<h2>{page.escape(part.title)}</h2>" if part.title else "",
                    *(page.paragraph(p) for p in part.paragraphs), *(table(t) for t in part.tables),
                    *(page.figure(f.name, f.caption, f.path) for f in part.figures), page.bullets(part.bullets)])


def _headline(report: Report) -> str:
    """The headline table with the Pareto figure beside it (below it on a narrow screen)."""
    answer = table(replace(report.headline, title=""))  # the heading goes above both
    pareto = report.pareto
    beside = page.figure(pareto.name, pareto.caption, pareto.path) if pareto else ""
    return f"<h2>{page.escape(report.headline.title)}</h2><div class=\"beside\"><div>{answer}</div>{beside}</div>"


def render_html(report: Report) -> str:
    """The whole report as one HTML page; its figures' PNGs are read and embedded."""
    return page.page(report.title, [
        f"<h1>{page.escape(report.title)}</h1>", page.paragraph(report.facts),
        f"<p><strong>Warning:</strong> {page.escape(report.warning)}</p>" if report.warning else "", _headline(report),
        section(Section("Machine", bullets=report.machine)), *(section(s) for s in report.sections),
        section(report.failures), section(Section("Findings", bullets=report.findings)),
        page.figures(((f.name, f.caption, f.path) for f in report.figures), report.left_out),
    ])


def write_html_report(df: pd.DataFrame, manifest: Manifest, out_dir: Path,
                      predictions: pd.DataFrame | None = None) -> Path:
    """Write ``out_dir/index.html``, ``out_dir/report.md`` and the figures' PNGs beside them, from one
    :func:`~harness.report.content.build_report` of the results ``df`` and the run's per-example
    ``predictions`` (:func:`harness.store.load_predictions`; None for a run without them); return index.html's
    path."""
    from harness.report import serving_plots
    from harness.report.plots import write_figures
    from harness.report.variants import split_variants

    tables.check_columns(df)
    if df.empty:
        raise HarnessError("the results table is empty: nothing to report")
    df = split_variants(tables.devices_by_threads(df))  # backends, sequence lengths, thread counts never pooled
    out_dir = Path(out_dir)
    figures, skipped = write_figures(df, out_dir, predictions, noise.noise_floor(manifest).pct)
    under_load, not_drawn = serving_plots.write_figures(df, manifest, out_dir)
    figures, skipped = {**figures, **under_load}, {**skipped, **not_drawn}
    report = build_report(df, manifest, figures, skipped, predictions)
    write_markdown_report(report, out_dir)
    path = out_dir / "index.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
