"""Views of the results table: summary tables, figures and the Markdown and HTML reports.

A run's report is built once (:func:`build_report`: a :class:`Report`), then
rendered as Markdown (:func:`render_markdown`) and as one HTML page
(:func:`render_html`); :func:`write_html_report` writes both with the figures.

>>> from harness.report import write_html_report  # doctest: +SKIP
>>> write_html_report(df, manifest, Path("reports/quick/run-1"))  # doctest: +SKIP
PosixPath('reports/quick/run-1/index.html')

:mod:`harness.report.plots` (matplotlib, seaborn) is imported only when a figure is drawn.
"""

from harness.report.content import build_report
from harness.report.html import render_html, write_html_report
from harness.report.leaderboard import leaderboard, write_leaderboard
from harness.report.markdown import render_markdown, write_markdown_report
from harness.report.model import Report
from harness.report.tables import batch_sizes, devices, model_table, summary_table

__all__ = ["Report", "batch_sizes", "build_report", "devices", "leaderboard", "model_table", "render_html",
           "render_markdown", "summary_table", "write_html_report", "write_leaderboard", "write_markdown_report"]
