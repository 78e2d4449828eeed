"""The report's Serving section: capacity with its bracket, each target rate, offline throughput, the load
generator's lateness and the latency-against-rate figure, from :mod:`tests.serving`'s hand-made rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from harness.manifest import Manifest
from harness.report import build_report, render_html, render_markdown, serving
from harness.report.drawing import Skipped, palette
from harness.report.html import write_html_report
from harness.report.model import Table
from harness.report.serving_plots import latency_against_rate
from tests.serving import LOADGEN, SCENARIOS, SLO_MS, offline_rows, server_rows
from tests.unit.test_report import RAW_MANIFEST, frame, manifest, results

RUN = manifest(suite={**RAW_MANIFEST["suite"], "measure": {"scenarios": SCENARIOS}}, loadgen=LOADGEN)


def run_rows() -> pd.DataFrame:
    return frame(results().to_dict("records") + server_rows() + offline_rows())


def section(df: pd.DataFrame | None = None, run: Manifest = RUN):
    found = serving.section(frame(server_rows() + offline_rows()) if df is None else df, run)
    assert found is not None
    return found


def table(title: str, df: pd.DataFrame | None = None, run: Manifest = RUN) -> Table:
    return next(t for t in section(df, run).tables if t.title == title)


def test_the_capacity_table_gives_each_models_capacity_its_bracket_and_the_slo_it_was_searched_at():
    found = table("Capacity at the SLO")
    assert found.columns == ("model", "max QPS at SLO (queries/s)", "bracket (queries/s)", "capacity vs teacher",
                             "capacity vs teacher interval", "SLO p99 (ms)", "max batch")
    assert found.rows == (("teacher", "80.0", "80.0–88.0", "1.00x", "1.00x–1.00x", "10.0", "1"),
                          ("scratch-16", "400", "400–440", "5.00x", "4.55x–5.50x", "10.0", "1"),
                          ("kd-16", "420", "420–462", "5.25x", "4.77x–5.78x", "10.0", "1"))
    assert "not a 95% interval" in found.notes[0] and not found.missing


def test_without_the_server_spec_in_the_manifest_the_slo_is_missing_not_invented():
    assert table("Capacity at the SLO", run=manifest()).column("SLO p99 (ms)") == ("—", "—", "—")


def test_the_rate_table_has_a_row_per_model_and_target_rate_with_the_reason_of_a_missing_value():
    found = table("Latency under load, per target rate")
    assert found.columns == ("model", "target (queries/s)", "achieved (queries/s)", "p50 (ms)", "p99 (ms)",
                             "mean (ms)", "late (%)", "dropped (%)", "mean batch (queries)")
    assert found.rows == (("teacher", "50.0", "49.8", "3.00", "6.00", "3.20", "0.0", "0.0", "1.00"),
                          ("teacher", "100", "99.1", "4.00", "12.0", "4.50", "2.0", "0.0", "1.00"),
                          ("scratch-16", "50.0", "50.1", "1.00", "2.00", "1.10", "0.0", "0.0", "1.00"),
                          ("scratch-16", "100", "100", "1.20", "3.00", "1.30", "0.0", "0.0", "1.00"),
                          ("kd-16", "50.0", "49.9", "0.900", "1.80", "1.00", "0.0", "0.0", "1.00"),
                          ("kd-16", "100", "98.0", "0.950", "—", "1.10", "1.5", "1.5", "1.00"))
    assert found.missing == ("latency_p99_ms (kd-16 at 100 queries/s): skipped: over 1% of the queries were not "
                             "served before the run gave up (dropped)",)


def test_the_offline_table_and_the_load_generators_lateness():
    offline = table("Offline throughput")
    assert offline.rows == (("teacher", "64", "36000", "0.0100"), ("scratch-16", "64", "360000", "0.00100"),
                            ("kd-16", "64", "400000", "0.000900"))
    lateness = table("Load generator")
    assert lateness.intro.startswith("Load generator: its p99 wake-up lateness was 0.200 ms, 22% of the median "
                                     "latency it measured in its worst cell. It sleeps until each query's")
    assert lateness.rows[0] == ("teacher", "300", "0.0500", "0.200", "1.50", "3.50", "6%")
    assert lateness.rows[1][-1] == "22%"


def test_the_intro_says_these_are_not_the_closed_loop_latencies_and_states_the_scenarios():
    intro = section().paragraphs[0]
    assert "not the same quantity" in intro
    assert "(poisson arrivals, 2 s per rate)" in intro
    assert "are served one at a time (max_batch 1: no batching); the SLO is a p99 response time of at most 10 ms." \
        in intro
    batched = {**RUN.suite, "measure": {**RUN.suite["measure"], "scenarios": [
        {**s, "max_batch": 4} if s["kind"] == "server" else s for s in RUN.suite["measure"]["scenarios"]]}}
    intro = serving.section(frame(server_rows()), RUN.model_copy(update={"suite": batched})).paragraphs[0]
    assert "are served by a dynamic batcher in batches of up to 4, waiting at most 1 ms to fill one;" in intro
    assert "Offline: the whole test split queued at once, served in batches of 64." in intro


def test_a_run_with_only_offline_rows_has_no_capacity_or_rate_table_and_one_without_has_no_section():
    only = section(frame(offline_rows()), manifest())
    assert [t.title for t in only.tables] == ["Offline throughput"]
    assert serving.section(frame(server_rows())[lambda d: d["scenario"] == "none"], RUN) is None
    assert "Serving" not in [s.title for s in build_report(results(), RUN).sections]


def test_both_renderings_carry_the_serving_section_after_the_closed_loop_tables():
    report = build_report(run_rows(), RUN)
    md, page = render_markdown(report), render_html(report)
    assert md.index("## Results by batch size") < md.index("## Serving") < md.index("### Capacity at the SLO") < \
        md.index("### Latency under load, per target rate") < md.index("### Offline throughput") < \
        md.index("### Load generator")
    assert "| kd-16      | 420                          | 420–462               | 5.25x " in md
    assert "<h2>Serving</h2>" in page and "<h3>Capacity at the SLO</h3>" in page and "<td>420–462</td>" in page


def test_the_figure_draws_p50_and_p99_against_the_rate_with_the_slo_and_the_capacity():
    rows = frame(server_rows())
    fig = latency_against_rate(rows, SLO_MS, palette(rows))
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["teacher", "scratch-16", "kd-16"]
    lines = {line.get_label(): line for line in axes[0].lines}
    assert list(lines["p50"].get_xdata()) == [50.0, 100.0] and list(lines["p50"].get_ydata()) == [3.0, 4.0]
    assert list(lines["p99"].get_ydata()) == [6.0, 12.0]
    assert list(lines[f"SLO: p99 ≤ {SLO_MS:g} ms"].get_ydata()) == [SLO_MS, SLO_MS]
    assert list(lines["max_qps_at_slo"].get_xdata()) == [80.0, 80.0]
    kd = {line.get_label(): line for line in axes[2].lines}
    assert list(kd["p99"].get_xdata()) == [50.0]  # the rate that dropped queries has no p99 to draw
    assert axes[0].get_xlim() == axes[2].get_xlim() and axes[0].get_ylim() == axes[2].get_ylim()


def test_the_figure_is_left_out_with_the_reason_when_no_rate_has_a_latency():
    rows = frame(server_rows())
    rows.loc[rows["metric"].isin(["latency_p50_ms", "latency_p99_ms"]), ["value", "status"]] = [float("nan"), "error"]
    assert isinstance(latency_against_rate(rows, SLO_MS, palette(rows)), Skipped)


def test_write_html_report_puts_the_figure_in_the_serving_section(tmp_path: Path):
    index = write_html_report(run_rows(), RUN, tmp_path)
    assert (tmp_path / "serving_latency.png").is_file()
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert md.index("## Serving") < md.index("](serving_latency.png)") < md.index("## Failures and skips")
    assert md.count("serving_latency.png") == 1
    page = index.read_text(encoding="utf-8")
    assert page.index("<h2>Serving</h2>") < page.index('id="fig-serving_latency"') < page.index("<h2>Findings</h2>")


@pytest.mark.parametrize("share, shown", [(0.2222, "22%"), (1.3088, "131%"), (None, "—")])
def test_the_lateness_share_is_a_percentage(share, shown):
    assert f", {shown} of the median" in serving.lateness_sentence({"p99_ms": 0.1, "p99_over_median_latency": share})
