"""Report tables and Markdown, from a results table built by hand.

A teacher and two students (scratch-16, kd-16) on cpu at batch sizes 1 and 64;
kd-16's latency at 64 failed and it has no peak memory at all.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.manifest import Manifest, parse
from harness.report import (
    batch_sizes,
    build_report,
    model_table,
    render_html,
    render_markdown,
    summary_table,
    write_markdown_report,
)
from harness.report.display import display_models, display_summary
from harness.report.formatting import format_interval, format_value, human_bytes
from harness.report.tables import Estimate, aggregate, verdict

NAN = math.nan
ROLES = {"teacher": ("teacher", "train"), "scratch-16": ("student", "scratch"), "kd-16": ("student", "kd"),
         "int8-16": ("student", "quantize")}
TEACHER_ACC = (0.990, 0.980, 0.998)
SCRATCH_ACC = (0.950, 0.930, 0.970)
KD_ACC = (0.942, 0.920, 0.960)  # overlaps scratch-16
KD_ACC_BETTER = (0.975, 0.971, 0.979)  # disjoint from scratch-16, above it
RAW_MANIFEST = {
    "schema_version": 3,
    "run_id": "20250101-000000-abc123",
    "status": "complete",
    "suite_name": "quick",
    "suite_hash": "ab12",
    "started_at": "2025-01-01T00:00:00Z",
    "harness_version": "0.1.0",
    "git_commit": "4eb73ab",
    "suite": {
        "name": "quick", "version": 1,
        "teacher": {"arch": "mlp", "params": {"hidden": [512, 512]}},
        "students": [
            {"name": "scratch-16", "arch": "mlp", "params": {"hidden": [16]}, "method": {"name": "scratch"}},
            {"name": "kd-16", "arch": "mlp", "params": {"hidden": [16]}, "method": {"name": "kd", "alpha": 0.9}},
        ],
    },
    "hardware": {"cpu": "Test CPU", "cores": 2, "ram_bytes": 8 * 2**30, "gpu": None, "torch": "2.4.0",
                 "python": "3.11.9", "threads": 2},
}
MANIFEST = parse(RAW_MANIFEST, "manifest.json")
#: the least a manifest holds: its required keys
BARE = parse({"schema_version": 3, "run_id": "r1", "status": "complete", "suite_name": "quick", "suite_hash": "",
              "suite": {}}, "manifest.json")


def manifest(**changes: object) -> Manifest:
    """:data:`MANIFEST` with ``changes``."""
    return parse({**RAW_MANIFEST, **changes}, "manifest.json")


def report_md(df: pd.DataFrame, run: Manifest = MANIFEST) -> str:
    """The Markdown report of ``df``, built and rendered."""
    return render_markdown(build_report(df, run))


def report_html(df: pd.DataFrame, run: Manifest = MANIFEST) -> str:
    """The HTML report of ``df``, built and rendered."""
    return render_html(build_report(df, run))


def row(model: str, metric: str, value: float, *, batch_size: int | None = None, ci: tuple[float, float] = (NAN, NAN),
        status: str = "ok", error: str = "", seed: int = 0, device: str = "cpu") -> dict:
    role, method = ROLES[model]
    return {"run_id": "r1", "suite": "quick", "model": model, "role": role, "method": method, "seed": seed,
            "device": device, "dtype": "float32", "batch_size": batch_size, "metric": metric,
            "value": value if status == "ok" else NAN, "unit": "", "ci_low": ci[0], "ci_high": ci[1], "n": None,
            "status": status, "error": error}


def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["batch_size"] = df["batch_size"].astype("Int64")
    df["n"] = df["n"].astype("Int64")
    return df


def results(kd_accuracy: tuple[float, float, float] = KD_ACC) -> pd.DataFrame:
    rows = []
    for model, acc, params, size, p50, peak in (
        ("teacher", TEACHER_ACC, 10_000, 40_960, {1: 2.0, 64: 8.0}, 81_920),
        ("scratch-16", SCRATCH_ACC, 1_000, 4_096, {1: 0.5, 64: 1.6}, 8_192),
        ("kd-16", kd_accuracy, 1_000, 4_096, {1: 0.4, 64: None}, None),
    ):
        rows += [row(model, "accuracy", acc[0], ci=acc[1:]), row(model, "params", params),
                 row(model, "size_bytes", size)]
        for bs, ms in p50.items():
            if ms is None:
                rows.append(row(model, "latency_p50_ms", NAN, batch_size=bs, status="error",
                                error="timed out after 60 s"))
            else:
                rows.append(row(model, "latency_p50_ms", ms, batch_size=bs, ci=(0.9 * ms, 1.1 * ms)))
                spread = 0.25 if (model, bs) == ("teacher", 64) else 0.04
                rows.append(row(model, "latency_iqr_over_median", spread, batch_size=bs))
            rows.append(row(model, "throughput_sps", 1000.0 * bs / (ms or 1.0), batch_size=bs))
            if peak is not None:
                rows.append(row(model, "peak_memory_bytes", peak * bs, batch_size=bs))
    return frame(rows)


def by_model(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("model")


def test_batch_sizes_and_model_order() -> None:
    df = results()
    assert batch_sizes(df) == [1, 64]
    assert summary_table(df, 1)["model"].tolist() == ["teacher", "scratch-16", "kd-16"]
    # teacher first even when its rows come last
    assert summary_table(df.iloc[::-1], 1)["model"].tolist() == ["teacher", "kd-16", "scratch-16"]


def test_summary_ratios_drops_and_speedups() -> None:
    t = by_model(summary_table(results(), 1))
    assert t.loc["teacher", ["drop_pp", "params_ratio", "size_ratio", "speedup"]].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert t.loc["scratch-16", "drop_pp"] == pytest.approx(4.0)
    assert t.loc["kd-16", "drop_pp"] == pytest.approx(4.8)
    assert t.loc["kd-16", "params_ratio"] == 10.0
    assert t.loc["kd-16", "size_ratio"] == 10.0
    assert t.loc["scratch-16", "speedup"] == 4.0
    assert t.loc["kd-16", "speedup"] == 5.0
    assert t.loc["kd-16", ["accuracy_low", "accuracy_high"]].tolist() == [0.920, 0.960]
    assert t.loc["kd-16", ["latency_p50_ms_low", "latency_p50_ms_high"]].tolist() == pytest.approx([0.36, 0.44])
    assert t.loc["scratch-16", "seeds"] == 1


def test_missing_values_are_nan_with_reason_never_zero() -> None:
    t = by_model(summary_table(results(), 64))
    assert t.loc["scratch-16", "speedup"] == 5.0
    assert math.isnan(t.loc["kd-16", "latency_p50_ms"]) and math.isnan(t.loc["kd-16", "speedup"])
    assert math.isnan(t.loc["kd-16", "peak_memory_bytes"])
    assert t.loc["kd-16", "missing"] == {"latency_p50_ms": "error: timed out after 60 s",
                                         "latency_round_spread": "not measured",
                                         "peak_memory_bytes": "not measured"}
    assert t.loc["teacher", "missing"] == {}
    shown = by_model(display_summary(summary_table(results(), 64)))
    assert shown.loc["kd-16", "latency p50 (ms)"] == "—"
    assert shown.loc["kd-16", "p50 95% CI (ms)"] == "—"
    assert shown.loc["kd-16", "speedup vs teacher"] == "—"
    assert shown.loc["kd-16", "peak memory"] == "—"
    assert shown.loc["kd-16", "params ratio"] == "10.00x"
    assert shown.loc["scratch-16", "speedup vs teacher"] == "5.00x (unpaired)"  # no speedup_vs_teacher rows
    assert shown.loc["scratch-16", "speedup 95% CI"] == "—"
    assert shown.loc["scratch-16", "latency p50 (ms)"] == "1.60"
    assert shown.loc["scratch-16", "peak memory"] == "512.0 KiB"
    assert shown.loc["kd-16", "accuracy (%)"] == "94.2"
    assert shown.loc["kd-16", "acc 95% CI (%)"] == "92.0–96.0"
    assert shown.loc["kd-16", "drop vs teacher (pp)"] == "4.8"
    assert shown.loc["teacher", "size"] == "40.0 KiB"
    assert shown.loc["teacher", "throughput (samples/s)"] == "8000"


def test_seeds_aggregate_to_mean_and_t_interval() -> None:
    rows = [row("kd-16", "accuracy", v, seed=s, ci=(v - 0.01, v + 0.01)) for s, v in enumerate((0.90, 0.92, 0.94))]
    est = aggregate(frame(rows))
    assert (est.value, est.seeds, est.note) == (pytest.approx(0.92), 3, "")
    half = 4.303 * 0.02 / math.sqrt(3)
    assert (est.low, est.high) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    failed = aggregate(frame([*rows, row("kd-16", "accuracy", NAN, seed=3, status="error", error="nan loss")]))
    assert failed.value == pytest.approx(0.92)
    assert failed.note == "only 3 of 4 seeds ok (error: nan loss)"
    one = aggregate(frame(rows[:1]))
    assert (one.value, one.low, one.high, one.seeds) == (0.90, 0.89, 0.91, 1)
    skipped = aggregate(frame([row("kd-16", "accuracy", NAN, status="skipped", error="no GPU")]))
    assert (math.isnan(skipped.value), skipped.note) == (True, "skipped: no GPU")
    assert aggregate([]).note == "not measured"


def test_verdicts() -> None:
    assert verdict(Estimate(0.9, 0.85, 0.95), Estimate(0.8, 0.75, 0.84)) == "better"
    assert verdict(Estimate(0.8, 0.75, 0.84), Estimate(0.9, 0.85, 0.95)) == "worse"
    assert verdict(Estimate(0.8, 0.75, 0.86), Estimate(0.9, 0.85, 0.95)) == "same"
    assert verdict(Estimate(0.8), Estimate(0.9, 0.85, 0.95)) == "unknown"


def test_formatting() -> None:
    assert [format_value(v, "bytes") for v in (512, 12595, 1048575, 3 * 2**30)] == \
        ["512 B", "12.3 KiB", "1.0 MiB", "3.0 GiB"]
    assert human_bytes(1023) == "1023 B"
    assert [format_value(v, "ms") for v in (0.12345, 1.0, 9.996, 1234.5)] == ["0.123", "1.00", "10.0", "1230"]
    assert format_value(0.9425, "fraction") == "94.2"
    assert format_value(22_713_216, "count") == "22,713,216"
    assert format_value(1.5e6, "flop") == "1.50 MFLOP"
    assert format_value(-0.01, "pp") == "0.0"
    assert format_value(None, "ms") == format_value(NAN, "x") == format_interval(0.1, NAN, "ms") == "—"


def test_model_table() -> None:
    models = model_table(results())
    assert models["model"].tolist() == ["teacher", "scratch-16", "kd-16"]
    shown = by_model(display_models(models))
    assert shown.loc["kd-16"].tolist() == ["student", "kd", "0", "1,000", "4.0 KiB", "—", "—"]
    assert by_model(models).loc["kd-16", "missing"] == {"flops": "not measured", "train_seconds": "not measured"}


def test_markdown_sections() -> None:
    md = report_md(results())
    assert md.startswith("# quick: run 20250101-000000-abc123\n")
    for section in ("## Machine", "## Models", "### Batch size 1 (cpu)", "### Batch size 64 (cpu)",
                    "## Failures and skips", "## Findings"):
        assert f"\n{section}\n" in md
    assert "- RAM: 8.0 GiB" in md and "- GPU: none" in md and "- Commit: 4eb73ab" in md
    failure = "| error    | kd-16    | latency_p50_ms | cpu      | float32 | 64            | 0       |"
    assert failure + " timed out after 60 s |" in md
    assert "- latency_p50_ms (kd-16): error: timed out after 60 s" in md
    assert "- flops (all models): not measured" in md
    assert md.index("## Failures and skips") < md.index("## Findings")


def test_the_overrides_a_run_was_made_with_are_shown_in_both_renderings() -> None:
    run = manifest(overrides=["measure.batch_sizes=[1,8]", "students[0].method.epochs=5"])
    line = "Overrides: --set 'measure.batch_sizes=[1,8]' --set 'students[0].method.epochs=5'"
    md, page = report_md(results(), run), report_html(results(), run)
    assert f"- Commit: 4eb73ab\n- {line}\n" in md
    assert f"<li>{html.escape(line)}</li>" in page


def test_a_run_without_overrides_shows_no_overrides_line() -> None:
    assert MANIFEST.overrides == []
    for shown in (report_md(results()), report_html(results()), report_md(results(), BARE)):
        assert "Overrides:" not in shown and "--set" not in shown


def test_failures_section_omitted_when_all_ok() -> None:
    df = results()
    assert "Failures and skips" not in report_md(df[df["status"] == "ok"])


def test_findings_overlap_and_shortfall() -> None:
    findings = report_md(results()).split("## Findings\n\n")[1]
    assert "kd-16 (kd) vs scratch-16 (scratch): 94.2% vs 95.0%, intervals overlap: no measurable difference." \
        in findings
    assert "kd-16 (kd) vs teacher (train): 94.2% vs 99.0%, intervals disjoint: clearly worse (-4.8 pp)." in findings
    assert "scratch-16 (scratch) vs teacher (train): 95.0% vs 99.0%, intervals disjoint: clearly worse (-4.0 pp)." \
        in findings
    assert "0 of 1 comparisons came out clearly better, 1 showed no measurable difference" in findings
    assert "scratch-16 (scratch) vs scratch-16" not in findings  # scratch students are not compared with themselves


def test_findings_clearly_better() -> None:
    findings = report_md(results(KD_ACC_BETTER)).split("## Findings\n\n")[1]
    assert "kd-16 (kd) vs scratch-16 (scratch): 97.5% vs 95.0%, intervals disjoint: clearly better (+2.5 pp)." \
        in findings
    assert "1 of 1 comparisons came out clearly better" in findings


def test_tolerates_a_bare_manifest() -> None:
    md = report_md(results(), BARE)
    assert md.startswith("# quick: run r1\n")
    assert "- CPU: unknown" in md and "- Commit: unknown" in md
    assert "vs scratch-16" not in md
    assert "names no student architectures" in md


def test_several_devices_need_a_choice() -> None:
    df = results()
    cuda = [row(m, "latency_p50_ms", ms, batch_size=1, ci=(ms, ms), device="cuda")
            for m, ms in (("teacher", 0.2), ("kd-16", 0.1))]
    both = frame(df.to_dict("records") + cuda)
    with pytest.raises(HarnessError, match="several devices"):
        summary_table(both, 1)
    t = by_model(summary_table(both, 1, device="cuda"))
    assert t.loc["kd-16", "speedup"] == 2.0
    assert t.loc["kd-16", "accuracy"] == 0.942  # model-level metrics fall back to the cpu rows
    assert t.loc["scratch-16", "missing"]["latency_p50_ms"] == "not measured"
    md = report_md(both)
    assert "### Batch size 1 (cuda)" in md and "### Batch size 64 (cuda)" not in md


def test_write_markdown_report(tmp_path) -> None:
    path = write_markdown_report(build_report(results(), MANIFEST), tmp_path / "reports" / "quick")
    assert path == tmp_path / "reports" / "quick" / "report.md"
    assert path.read_text(encoding="utf-8") == report_md(results())


def test_bad_input_is_a_harness_error() -> None:
    with pytest.raises(HarnessError, match="lacks columns: status"):
        summary_table(results().drop(columns="status"), 1)
    with pytest.raises(HarnessError, match="empty"):
        build_report(results().iloc[:0], MANIFEST)


def test_noisy_cells_are_flagged() -> None:
    shown = by_model(display_summary(summary_table(results(), 64)))
    assert shown.loc["teacher", "round spread"] == "25% noisy"
    assert shown.loc["scratch-16", "round spread"] == "4%"
    assert shown.loc["kd-16", "round spread"] == "—"


def test_energy_is_a_summary_column_only_where_it_was_measured() -> None:
    assert "energy_j_per_sample" not in summary_table(results(), 64)
    rows = results()
    energy = rows[(rows["metric"] == "latency_p50_ms") & (rows["batch_size"] == 64)].copy()
    energy["metric"], energy["unit"], energy["status"], energy["value"] = "energy_j_per_sample", "J", "ok", 0.25
    energy["ci_low"] = energy["ci_high"] = float("nan")
    with_energy = pd.concat([rows, energy], ignore_index=True)
    table = by_model(summary_table(with_energy, 64))
    assert table["energy_j_per_sample"].tolist() == [0.25, 0.25, 0.25]
    assert "energy per sample (J)" in display_summary(summary_table(with_energy, 64)).columns


def test_seeds_that_agree_keep_their_own_interval() -> None:
    from harness.report.tables import aggregate

    rows = [{"metric": "accuracy", "seed": s, "value": 0.9, "ci_low": 0.85, "ci_high": 0.95, "status": "ok",
             "error": ""} for s in (0, 1, 2)]
    est = aggregate(rows)
    assert (est.value, est.low, est.high) == (pytest.approx(0.9), pytest.approx(0.85), pytest.approx(0.95))
    assert est.seeds == 3


FLOOR = {"pct": 1.7, "method": "A/A: the teacher timed against a second copy of itself",
         "cells": [{"device": "cpu", "threads": 1, "dtype": "float32", "backend": "eager", "seq_len": None,
                    "batch_size": 1, "ratio": 0.998, "ci_low": 0.985, "ci_high": 1.012, "pct": 1.5},
                   {"device": "cpu", "threads": 1, "dtype": "float32", "backend": "eager", "seq_len": None,
                    "batch_size": 64, "ratio": 1.004, "ci_low": 0.99, "ci_high": 1.017, "pct": 1.7}]}
# paired speedup_vs_teacher (value, ci_low, ci_high) per model and batch size; kd-16 and scratch-16 differ by
# 5.05 / 4.98 - 1 = 1.4% at batch size 1, intervals disjoint: under a 1.7% floor, a tie
PAIRED = {"teacher": {1: (1.0, 1.0, 1.0), 64: (1.0, 1.0, 1.0)},
          "scratch-16": {1: (4.98, 4.95, 4.99), 64: (5.2, 5.0, 5.4)},
          "kd-16": {1: (5.05, 5.00, 5.10)}}


def paired_results(floor_skips_kd: bool = True) -> pd.DataFrame:
    """:func:`results` with speedup_vs_teacher rows (schema 3); kd-16 at 64 skipped (it was not timed)."""
    rows = results().to_dict("records")
    for model, by_size in PAIRED.items():
        rows += [row(model, "speedup_vs_teacher", v, batch_size=bs, ci=(lo, hi)) for bs, (v, lo, hi) in by_size.items()]
    if floor_skips_kd:
        rows.append(row("kd-16", "speedup_vs_teacher", NAN, batch_size=64, status="skipped",
                        error="kd-16 was not timed in this cell"))
    return frame(rows)


def test_speedup_reads_the_paired_metric_with_its_interval() -> None:
    t = by_model(summary_table(paired_results(), 1))
    assert t.loc["kd-16", ["speedup", "speedup_low", "speedup_high"]].tolist() == [5.05, 5.00, 5.10]
    assert t.loc["teacher", ["speedup", "speedup_low", "speedup_high"]].tolist() == [1.0, 1.0, 1.0]
    assert t["speedup_paired"].tolist() == [True, True, True]
    shown = by_model(display_summary(summary_table(paired_results(), 1)))
    assert shown.loc["kd-16", "speedup vs teacher"] == "5.05x"  # not 0.5 / 0.4 = 5.00x of the p50s
    assert shown.loc["scratch-16", "speedup 95% CI"] == "4.95x–4.99x"
    assert "unpaired" not in report_md(paired_results())


def test_a_skipped_paired_speedup_is_missing_with_its_reason_not_a_p50_ratio() -> None:
    t = by_model(summary_table(paired_results(), 64))
    assert math.isnan(t.loc["kd-16", "speedup"]) and bool(t.loc["kd-16", "speedup_paired"])
    assert t.loc["kd-16", "missing"]["speedup_vs_teacher"] == "skipped: kd-16 was not timed in this cell"
    assert t.loc["scratch-16", "speedup"] == 5.2  # 8.0 / 1.6 = 5.0 would be the unpaired ratio


def test_old_runs_fall_back_to_the_unpaired_ratio_and_say_so() -> None:
    md = report_md(results())
    assert "| 5.00x (unpaired)" in md
    assert ("Speedup of every model (unpaired): teacher p50 / model p50 timed in separate windows, without an "
            "interval") in md
    findings = md.split("## Findings\n\n")[1]
    assert "kd-16 (kd) vs teacher (train), speed on cpu (unpaired p50s, timed in separate windows): faster at " \
           "batch size 1 (5.00x); not judged at batch size 64 (a value or an interval is missing)." in findings


def test_the_report_states_the_noise_floor_or_why_it_is_absent() -> None:
    md = report_md(paired_results(), manifest(noise_floor=FLOOR))
    assert ("- Noise floor (A/A): differences in latency under 1.7% cannot be told apart on this machine in this "
            "run (set by batch size 64 on cpu, float32, eager, 1 thread: teacher/copy p50 ratio 1.004, 95% "
            "interval 0.990–1.017).") in md
    assert "a speed difference also has to exceed the run's A/A noise floor (1.7%)." in md
    not_measured = manifest(noise_floor={"pct": None, "reason": "the teacher failed", "cells": []})
    assert "- Noise floor (A/A): could not be measured: the teacher failed;" in report_md(results(), not_measured)
    old = report_md(results(), manifest(schema_version=2))
    assert "- Noise floor (A/A): not measured: runs of schema 2 did not time the teacher against itself;" in old
    off = manifest(schema_version=3, suite={**RAW_MANIFEST["suite"], "measure": {"latency": {"noise_floor": False}}})
    assert "- Noise floor (A/A): switched off in the suite (measure.latency.noise_floor: false);" \
        in report_md(results(), off)


def test_a_speed_difference_under_the_noise_floor_is_no_finding() -> None:
    twins = "kd-16 (kd) vs scratch-16 (scratch), speed on cpu (paired speedup vs teacher): "
    with_floor = report_md(paired_results(), manifest(noise_floor=FLOOR)).split("## Findings\n\n")[1]
    assert twins + "no measurable difference at batch size 1; not judged at batch size 64" in with_floor
    without = report_md(paired_results()).split("## Findings\n\n")[1]
    assert twins + "faster at batch size 1 (1.01x); not judged at batch size 64" in without
    assert "scratch-16 (scratch) vs teacher (train), speed on cpu (paired speedup vs teacher): faster at batch " \
           "sizes 1 (4.98x), 64 (5.20x)." in with_floor


def test_speed_verdict_needs_disjoint_intervals_and_a_difference_over_the_floor() -> None:
    from harness.report.tables import speed_verdict

    fast, slow = Estimate(0.90, 0.89, 0.91), Estimate(1.0, 0.99, 1.01)  # latencies, 11% apart
    assert speed_verdict(fast, slow, 1.7, higher_is_faster=False) == "faster"
    assert speed_verdict(fast, slow, 12.0, higher_is_faster=False) == "same"
    assert speed_verdict(slow, fast, None, higher_is_faster=False) == "slower"
    assert speed_verdict(fast, Estimate(0.95, 0.90, 1.0), None, higher_is_faster=False) == "same"  # overlap
    assert speed_verdict(fast, Estimate(1.0), 1.7, higher_is_faster=False) == "unknown"


def test_the_html_page_states_the_noise_floor_and_labels_the_unpaired_fallback() -> None:
    page = report_html(paired_results(), manifest(noise_floor=FLOOR))
    assert "<li>Noise floor (A/A): differences in latency under 1.7% cannot be told apart on this machine" in page
    assert "<td>5.05x</td>" in page and "unpaired" not in page
    old = report_html(results())
    assert "<li>Noise floor (A/A): not recorded in this run&#x27;s manifest;" in old
    assert "<td>5.00x (unpaired)</td>" in old and '<p class="note">Speedup of every model (unpaired)' in old
