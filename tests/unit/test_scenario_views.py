"""The closed-loop views read single_stream rows alone: the report (headline, tables, findings, figures), the
leaderboard and the hardware comparison give the same numbers with a run's serving rows as without them.

The closed-loop rows are :func:`tests.unit.test_report.paired_results` (no ``scenario`` column: a run before
schema 3, so single_stream); the serving rows are :mod:`tests.serving`'s, at batch sizes 1 and 64 too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import build_report, plots, scenarios
from harness.report.drawing import Skipped
from harness.report.hardware import load_machines
from harness.report.leaderboard import display_leaderboard, leaderboard, render_leaderboard_markdown
from harness.store import RunWriter
from tests.helpers import MANIFEST_KEYS
from tests.serving import CAPACITY, offline_rows, server_rows
from tests.unit.test_report import MANIFEST, frame, paired_results, row


def closed_loop() -> pd.DataFrame:
    """The closed-loop run, with a single_stream latency_p99_ms at batch size 1 (the server's has one too)."""
    rows = paired_results().to_dict("records")
    rows += [row(m, "latency_p99_ms", p99, batch_size=1) for m, p99 in
             (("teacher", 2.5), ("scratch-16", 0.7), ("kd-16", 0.6))]
    return frame(rows)


def mixed() -> pd.DataFrame:
    return frame(closed_loop().to_dict("records") + server_rows() + offline_rows())


def test_split_keeps_model_level_rows_with_the_closed_loop_and_reads_a_missing_scenario_as_single_stream():
    df = mixed()
    closed, serving = scenarios.split(df)
    assert len(closed) == len(closed_loop()) and len(serving) == len(server_rows()) + len(offline_rows())
    assert set(closed["metric"]) == set(closed_loop()["metric"])
    assert scenarios.single_stream(df).equals(closed)
    assert len(scenarios.per_rate(df)) == 3 * 2 * 8 and len(scenarios.capacity(df)) == 3 * 2
    assert len(scenarios.of(df, "offline")) == 3 * 2
    assert scenarios.split(closed_loop())[1].empty  # no scenario column at all: every row single_stream


def test_the_report_reads_the_closed_loop_rows_alone_and_adds_a_serving_section():
    base, report = build_report(closed_loop(), MANIFEST), build_report(mixed(), MANIFEST)
    assert report.headline == base.headline
    assert report.findings == base.findings
    assert [s for s in report.sections if s.title != "Serving"] == list(base.sections)
    assert [s.title for s in report.sections][-1] == "Serving" and "Serving" not in [s.title for s in base.sections]
    by_size = next(s for s in report.sections if s.title == "Results by batch size")
    assert [t.title for t in by_size.tables] == ["Batch size 1 (cpu)", "Batch size 64 (cpu)"]
    # the teacher's p50 at batch size 1 is its closed-loop 2.0 ms, not pooled with its server p50s (3.0, 4.0)
    assert by_size.tables[0].column("latency p50 (ms)")[0] == "2.00"
    # the counts of what was measured cover every row
    assert f"{len(mixed())} measurements" in report.facts and f"{len(closed_loop())} measurements" in base.facts


def test_the_figures_are_drawn_from_the_closed_loop_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, pd.DataFrame] = {}

    def record(name: str):
        def draw(df: pd.DataFrame, colours: object) -> Skipped:
            seen[name] = df
            return Skipped("recorded")
        return draw

    monkeypatch.setattr(plots, "FIGURES", {name: (title, record(name)) for name, (title, _) in plots.FIGURES.items()})
    plots.write_figures(mixed(), tmp_path)
    assert seen and all(df.equals(scenarios.single_stream(mixed())) and len(df) == len(closed_loop())
                        for df in seen.values())


NUMBERS = ["accuracy", "params", "size_bytes", "latency_p50_ms", "throughput_sps", "speedup_vs_teacher"]


@pytest.mark.parametrize("by", ["accuracy", "latency_p50_ms", "latency_p99_ms", "throughput_sps"])
def test_the_leaderboard_ranks_closed_loop_metrics_on_closed_loop_rows(by: str):
    base, board = leaderboard(closed_loop(), by=by), leaderboard(mixed(), by=by)
    columns = ["rank", "tie", "model", *NUMBERS, *([by] if by not in NUMBERS else [])]
    pd.testing.assert_frame_equal(board[columns], base[columns])
    assert board.attrs["batch_size"] == base.attrs["batch_size"] == 1  # kd-16 failed at 64
    if by == "latency_p99_ms":  # the closed-loop p99s, not pooled with the server's at 50 and 100 queries/s
        assert board.set_index("model")["latency_p99_ms"].to_dict() == {"teacher": 2.5, "scratch-16": 0.7, "kd-16": 0.6}
    assert "closed-loop (single_stream)" in render_leaderboard_markdown(board)


def test_the_leaderboard_ranks_by_capacity_with_its_bracket():
    board = leaderboard(mixed(), by="max_qps_at_slo")
    assert board["model"].tolist() == ["teacher", "kd-16", "scratch-16"]
    row_ = board.set_index("model").loc["kd-16"]
    assert (row_["max_qps_at_slo"], row_["max_qps_at_slo_low"], row_["max_qps_at_slo_high"]) == CAPACITY["kd-16"][0]
    shown = display_leaderboard(board).set_index("model")
    assert shown.loc["scratch-16", "max_qps_at_slo bracket"] == "400–440"
    text = render_leaderboard_markdown(board)
    assert "max_qps_at_slo is a metric of the server scenario, one value per model (max_batch 1)" in text
    assert "not a 95% interval" in text


def test_capacity_brackets_that_overlap_share_a_rank_and_disjoint_ones_do_not():
    board = leaderboard(mixed(), by="max_qps_at_slo")  # kd-16 [420, 462] and scratch-16 [400, 440] overlap
    assert board["rank"].tolist() == ["ref", "1", "1"] and board["tie"].tolist() == ["", "", "=1"]
    apart = mixed()
    at = (apart["model"] == "scratch-16") & (apart["metric"] == "max_qps_at_slo")
    apart.loc[at, ["value", "ci_low", "ci_high"]] = [300.0, 300.0, 330.0]
    board = leaderboard(apart, by="max_qps_at_slo")
    assert board["rank"].tolist() == ["ref", "1", "2"] and board["tie"].tolist() == ["", "", ""]


def test_a_server_metric_of_each_rate_is_refused_as_a_ranking_with_a_hint():
    with pytest.raises(HarnessError, match=r"cannot rank by late_share: .*\(50, 100 queries/s\).*max_qps_at_slo"):
        leaderboard(mixed(), by="late_share")


def _run(tmp: Path, label: str, cpu: str, rows: list[dict]) -> Path:
    hardware = {"cpu": cpu, "cores_logical": 2, "torch": "2.13.0+cpu", "threads": 1}
    writer = RunWriter.create(tmp / label, "quick", {**MANIFEST_KEYS, "suite_name": "quick", "hardware": hardware})
    writer.append([{**r, "run_id": writer.manifest.run_id} for r in rows])
    writer.finish("complete")
    return writer.run_dir


def test_the_hardware_comparison_reads_the_closed_loop_rows_alone(tmp_path: Path):
    rows = [{k: v for k, v in r.items() if k != "run_id"} for r in mixed().to_dict("records")]
    runs = [_run(tmp_path, "a", "CPU A", rows), _run(tmp_path, "b", "CPU B", rows)]
    timed, machines, _ = load_machines(runs)
    assert set(timed["scenario"]) == {"single_stream"} and len(machines) == 2
    p50 = timed[(timed["model"] == "teacher") & (timed["metric"] == "latency_p50_ms")]
    assert sorted(p50["value"].tolist()) == [2.0, 2.0, 8.0, 8.0]
