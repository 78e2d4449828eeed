"""Build a run's :class:`~harness.report.model.Report` once, from its results table and its manifest.

Both report files are renderings of what :func:`build_report` returns
(:func:`harness.report.markdown.render_markdown`,
:func:`harness.report.html.render_html`), so they cannot disagree. The
summary of each device and batch size is computed here once and shared by
the headline (:mod:`harness.report.headline`), the detailed tables
(:mod:`harness.report.display`) and the findings (:mod:`harness.report.findings`);
so are the students' paired calls against their baselines, from the run's
per-example predictions (:mod:`harness.report.paired_calls`), which the
headline, the findings and the per-seed table all state.

Every view here but one reads the closed-loop sweep alone (single_stream
rows, :func:`harness.report.scenarios.split`): the serving scenarios' rows
(offline, server) go to the Serving section (:mod:`harness.report.serving`),
after the tables by batch size. The counts of what was measured and the
failures cover every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.measure import machine_load
from harness.report import (
    display,
    facts,
    failures,
    headline,
    noise,
    paired_calls,
    quality_tables,
    scenarios,
    serving,
    tables,
)
from harness.report.findings import findings
from harness.report.model import Figure, Report, Section
from harness.report.speed import summaries
from harness.report.variants import base_model, one_per_model

#: the figure drawn beside the headline (:func:`harness.report.plots.pareto`)
PARETO = "pareto"


def _figures(figures: Mapping[str, Path], skipped: Mapping[str, str]) -> tuple[list[Figure], list[str]]:
    if not figures and not skipped:
        return [], []
    from harness.report.plots import title  # matplotlib only when there are figures

    def caption(name: str) -> str:
        return serving.FIGURES.get(name) or title(name)

    return ([Figure(name, caption(name), Path(path)) for name, path in figures.items()],
            [f"{caption(name)}: {reason}." for name, reason in skipped.items()])


def _detail(df: pd.DataFrame, manifest: Manifest, model_level: pd.DataFrame,
            by_cell: Mapping[tuple[str, int], pd.DataFrame], calls: paired_calls.Calls | None,
            predictions: pd.DataFrame | None) -> tuple[Section, ...]:
    """The detailed sections: models, embedding quality, each seed against the baseline, the classes compression
    costs most, build notes, one table per device and batch size."""
    sections = [Section("Models", tables=(display.models(model_level),))]
    data = facts.data_section(manifest)
    if data is not None:
        sections.append(data)
    embedding = display.embedding_table(model_level)
    if embedding is not None:
        sections.append(Section("Embedding quality", (display.EMBEDDING_INTRO,), (display.as_table(embedding),)))
    teacher, students = _roles(df)
    class_names = manifest.dataset_info.get("classes")
    for part in (quality_tables.seeds_section(calls),
                 quality_tables.classes_section(predictions, teacher, students, class_names)):
        if part is not None:
            sections.append(part)
    shared = facts.teacher_outputs(manifest)
    if shared:
        sections.append(Section("", (shared,)))
    steps = facts.pipelines(manifest)
    if steps:
        sections.append(steps)
    if by_cell:
        sections.append(Section("Results by batch size", (display.LEGEND,),
                                tuple(display.summary(t, device, size) for (device, size), t in by_cell.items())))
    return tuple(sections)


def _roles(df: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(the first teacher's model, the students in model order; a variant's label names its model)."""
    order = tables.model_order(df)
    teachers = [str(m) for m in pd.unique(df.loc[df["role"] == "teacher", "model"])]
    return (base_model(teachers[0]) if teachers else None), [m for m in order if m not in teachers]


def build_report(df: pd.DataFrame, manifest: Manifest, figures: Mapping[str, Path] | None = None,
                 skipped: Mapping[str, str] | None = None, predictions: pd.DataFrame | None = None) -> Report:
    """The report of one run: ``df`` is its results table (variants split, thread counts in the device labels,
    as :func:`harness.report.html.write_html_report` prepares it; every view but the Serving section and the
    counts of what was measured reads its single_stream rows alone, :mod:`harness.report.scenarios`),
    ``manifest`` its manifest; ``figures`` (name -> PNG beside the report) and ``skipped`` (name -> why it was
    not drawn) its figures, the Serving section's among them; ``predictions`` its
    per-example predictions (:func:`harness.store.load_predictions`; None or empty: the accuracy calls fall back
    to comparing intervals, unpaired, and say so)."""
    tables.check_columns(df)
    if df.empty:
        raise HarnessError("the results table is empty: nothing to report")
    every, (df, serving_rows) = df, scenarios.split(df)  # the closed-loop views read single_stream rows alone
    model_level = one_per_model(df)  # model-level metrics: one row per model, not one per backend or seq_len
    models = tables.model_table(model_level)
    by_cell = summaries(df)
    floor = noise.noise_floor(manifest)
    where = headline.cell(df)
    teacher, students = _roles(df)
    calls = paired_calls.calls(predictions, manifest.suite, students, teacher or "teacher")
    figures, skipped = figures or {}, skipped or {}
    shown, left_out = _figures({k: v for k, v in figures.items() if k not in serving.FIGURES},
                               {k: v for k, v in skipped.items() if k not in serving.FIGURES})
    pareto = next((f for f in shown if f.name == PARETO), None)
    under_load = serving.section(serving_rows, manifest, _figures({k: v for k, v in figures.items()
                                                                  if k in serving.FIGURES}, {})[0],
                                 [reason for name, reason in skipped.items() if name in serving.FIGURES])
    return Report(
        title=facts.title(manifest),
        facts=" ".join(s for s in (facts.run_facts(manifest), failures.counts(every, manifest)) if s),
        headline=headline.headline(by_cell[where] if where else headline.without_timing(models), where, floor,
                                   calls),
        pareto=pareto,
        machine=facts.machine_lines(manifest),
        sections=_detail(df, manifest, model_level, by_cell, calls, predictions) + tuple(s for s in (under_load,) if s),
        failures=failures.section(every, manifest),
        findings=findings(df, models, by_cell, facts.architectures(manifest), floor, calls),
        figures=tuple(f for f in shown if f is not pareto),
        left_out=tuple(left_out),
        warning=machine_load.warning(manifest),
    )
