"""Views of the results table: summary tables and the Markdown report.

>>> from harness.report import summary_table, write_markdown_report  # doctest: +SKIP
>>> write_markdown_report(df, manifest, Path("reports/quick/run-1"))  # doctest: +SKIP
PosixPath('reports/quick/run-1/report.md')
"""

from harness.report.markdown import render_markdown, write_markdown_report
from harness.report.tables import batch_sizes, devices, model_table, summary_table

__all__ = ["batch_sizes", "devices", "model_table", "render_markdown", "summary_table", "write_markdown_report"]
