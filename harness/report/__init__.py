"""Views of the results table: summary tables, figures and the Markdown and HTML reports.

>>> from harness.report import summary_table, write_html_report  # doctest: +SKIP
>>> write_html_report(df, manifest, Path("reports/quick/run-1"))  # doctest: +SKIP
PosixPath('reports/quick/run-1/index.html')

:mod:`harness.report.plots` (matplotlib, seaborn) is imported only when a figure is drawn.
"""

from harness.report.html import render_html, write_html_report
from harness.report.markdown import render_markdown, write_markdown_report
from harness.report.tables import batch_sizes, devices, model_table, summary_table

__all__ = ["batch_sizes", "devices", "model_table", "render_html", "render_markdown", "summary_table",
           "write_html_report", "write_markdown_report"]
from harness.report.leaderboard import leaderboard, write_leaderboard  # noqa: E402, F401
