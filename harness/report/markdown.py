"""The Markdown rendering of a run's :class:`~harness.report.model.Report` (``report.md``).

It lays the report out and adds nothing to it: headings, paragraphs, GitHub
tables, bullets, and figures as images beside the file. The answer to
"which student do I ship?" comes first, with the Pareto figure right after it.

>>> from harness.report.model import Table
>>> print(table(Table(("model", "size"), (("kd-16", "6.9 KiB"),), title="Models", missing=("flops: not measured",))))
### Models
<BLANKLINE>
| model   | size    |
|---------|---------|
| kd-16   | 6.9 KiB |
<BLANKLINE>
Missing values:
<BLANKLINE>
- flops: not measured
"""

from __future__ import annotations

from pathlib import Path

from harness.report.formatting import markdown_grid
from harness.report.model import Figure, Report, Section, Table


def _bullets(lines: tuple[str, ...]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def table(shown: Table, level: int = 3) -> str:
    """A table under its heading (at ``level``), with the paragraph above it and its notes under it."""
    parts = [f"{'#' * level} {shown.title}" if shown.title else "", shown.intro,
             markdown_grid(shown.columns, shown.rows) if shown.rows else "", *shown.notes,
             "Missing values:" if shown.missing else "", _bullets(shown.missing)]
    return "\n\n".join(p for p in parts if p)


def section(part: Section | None) -> str:
    """A section under its heading: paragraphs, tables, figures, then a list ('' for None)."""
    if part is None:
        return ""
    parts = [f"## {part.title}" if part.title else "", *part.paragraphs,
             *(table(t) for t in part.tables), *(_figure(f) for f in part.figures), _bullets(part.bullets)]
    return "\n\n".join(p for p in parts if p)


def _figure(figure: Figure) -> str:
    return f"![{figure.caption}]({figure.path.name})"


def _figures(report: Report) -> str:
    if not report.figures and not report.left_out:
        return ""
    parts = ["## Figures", *(_figure(f) for f in report.figures)]
    if report.left_out:
        parts += ["Left out:", _bullets(report.left_out)]
    return "\n\n".join(parts)


def render_markdown(report: Report) -> str:
    """The whole report as Markdown."""
    parts = [f"# {report.title}", report.facts, f"> **Warning:** {report.warning}" if report.warning else "",
             table(report.headline, level=2),
             _figure(report.pareto) if report.pareto else "",
             section(Section("Machine", bullets=report.machine)), *(section(s) for s in report.sections),
             section(report.failures), section(Section("Findings", bullets=report.findings)), _figures(report)]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_markdown_report(report: Report, out_dir: Path) -> Path:
    """Write ``out_dir/report.md`` (creating ``out_dir``) and return its path; see :func:`render_markdown`."""
    path = Path(out_dir) / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(report), encoding="utf-8")
    return path
