"""The content of one run's report, built once and rendered twice.

:func:`harness.report.content.build_report` fills a :class:`Report` from the
results table and the manifest; :mod:`harness.report.markdown` and
:mod:`harness.report.html` only lay it out. Every cell is text already
formatted, so the two files cannot disagree on a number or a sentence.

>>> table = Table(("model", "accuracy (%)"), (("kd-16", "94.2"),), title="Models", missing=("flops: not measured",))
>>> table.column("accuracy (%)")
('94.2',)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Table:
    """A table of formatted cells with what is said around it."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: its heading ("Batch size 1 (cpu)"); "" for a table that needs none
    title: str = ""
    #: a paragraph above it
    intro: str = ""
    #: paragraphs under it
    notes: tuple[str, ...] = ()
    #: one line per missing value and why ("flops (all models): not measured")
    missing: tuple[str, ...] = ()

    def column(self, name: str) -> tuple[str, ...]:
        at = self.columns.index(name)
        return tuple(row[at] for row in self.rows)


@dataclass(frozen=True)
class Figure:
    """A figure written beside the report: ``path`` is its PNG."""

    name: str
    caption: str
    path: Path


@dataclass(frozen=True)
class Section:
    """A titled part of the report: paragraphs, then tables (each under its own heading), then its figures, then
    a list."""

    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    bullets: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True)
class Report:
    """One run's report. In reading order: ``title`` and ``facts``; ``warning``, one line when the run was
    measured on a busy machine (:func:`harness.measure.machine_load.warning`, "" otherwise); the answer to
    "which student do I ship?" (``headline``, with ``pareto`` beside it); the ``machine``; the detailed
    ``sections`` (models, build notes, a table per device and batch size, and Serving where the run has serving
    scenarios, with its own figure); ``failures``; ``findings``; the other ``figures`` and the ones
    ``left_out``, each with why."""

    title: str
    facts: str
    headline: Table
    pareto: Figure | None
    machine: tuple[str, ...]
    sections: tuple[Section, ...]
    failures: Section | None
    findings: tuple[str, ...]
    figures: tuple[Figure, ...] = ()
    left_out: tuple[str, ...] = ()
    warning: str = ""
