"""The report model: built once from the results and the manifest, rendered to Markdown and to HTML alike.

The results are those of :mod:`tests.unit.test_report` (a teacher, scratch-16 and kd-16 on cpu at batch
sizes 1 and 64), with the paired speedups where a test says so.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from harness.against_baseline import TEST_NAME, pooled
from harness.report import build_report, render_html, render_markdown
from harness.report.headline import accuracy_change, verdict
from harness.report.model import Report
from harness.report.paired_calls import format_p, pp
from harness.report.quality_tables import classes_section
from harness.report.tables import Estimate
from harness.rows import PREDICTION_COLUMNS
from harness.store import frame as store_frame
from tests.unit.test_report import FLOOR, MANIFEST, NAN, frame, manifest, paired_results, results, row

HEADLINE = "## Which student to ship"


def _markdown_rows(md: str, heading: str) -> list[list[str]]:
    """The cells of the first table under ``heading``."""
    lines = md.split(f"{heading}\n", 1)[1].split("\n## ", 1)[0].splitlines()
    table = [line for line in lines if line.startswith("|")][2:]  # header and rule left out
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table]


def _html_rows(page: str, heading: str) -> list[list[str]]:
    """The body cells of the first table after ``<h2>heading</h2>``, unescaped."""
    section = page.split(f"<h2>{heading}</h2>", 1)[1]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", tr)] for tr in re.findall(r"<tr>(.*?)</tr>", body)]



def _holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment by statsmodels (a reference nobody here wrote)."""
    from statsmodels.stats.multitest import multipletests

    return dict(zip(pvalues, multipletests(list(pvalues.values()), method="holm")[1], strict=True))

def test_both_renderings_show_the_same_headline_rows_and_findings() -> None:
    report = build_report(paired_results(), manifest(noise_floor=FLOOR))
    md, page = render_markdown(report), render_html(report)
    rows = [list(r) for r in report.headline.rows]
    assert [r[0] for r in rows] == ["scratch-16", "kd-16"]  # students only, in model order
    assert _markdown_rows(md, HEADLINE) == rows
    assert _html_rows(page, "Which student to ship") == rows
    found = md.split("## Findings\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert found == [f"- {sentence}" for sentence in report.findings]
    items = page.split("<h2>Findings</h2>", 1)[1].split("</ul>", 1)[0]
    assert [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", items)] == list(report.findings)


def test_the_headline_comes_first_and_says_size_speed_accuracy_and_a_verdict() -> None:
    report = build_report(paired_results(), manifest(noise_floor=FLOOR))
    assert report.headline.columns == ("student", "method", "size vs teacher", "speedup at batch size 1",
                                       "speedup 95% CI", "accuracy change (pp)", "accuracy change 95% CI (pp)",
                                       "verdict")
    # scratch-16: 10x smaller; paired speedup 4.98x [4.95, 4.99]; 95.0% [93.0, 97.0] vs the teacher's
    # 99.0% [98.0, 99.8]: -4.0 pp, from 93.0 - 99.8 to 97.0 - 98.0
    assert report.headline.rows[0] == ("scratch-16", "scratch", "10.00x smaller", "4.98x", "4.95x–4.99x", "-4.0",
                                       "-6.8 to -1.0", "smaller and faster, less accurate (-4.0 pp)")
    assert "at batch size 1 on cpu, the smallest batch size measured" in report.headline.intro
    assert "the run's A/A noise floor (1.7%)" in report.headline.notes[0]
    md = render_markdown(report)
    assert md.index(HEADLINE) < md.index("## Machine") < md.index("## Models") < md.index("### Batch size 1 (cpu)")


def test_verdicts_come_from_the_intervals_not_the_point_estimates() -> None:
    same = Estimate(0.97, 0.95, 0.99)  # overlaps the teacher's 0.98-0.998
    change = accuracy_change(same, Estimate(0.99, 0.98, 0.998))
    assert (round(change.value, 6), round(change.low, 6), round(change.high, 6)) == (-2.0, -4.8, 1.0)
    assert verdict(10.0, "faster", "same", change) == "smaller and faster, accuracy within the noise"
    assert verdict(0.5, "slower", "same", change) == "larger and slower than the teacher, accuracy within the noise"
    assert verdict(10.0, "same", "same", change) == "smaller, speed within the noise, accuracy within the noise"
    rows = results().to_dict("records")
    rows += [row(m, "speedup_vs_teacher", v, batch_size=1, ci=ci)
             for m, v, ci in (("teacher", 1.0, (1.0, 1.0)), ("scratch-16", 1.05, (0.98, 1.10)),  # above 1, CI not
                              ("kd-16", 1.01, (1.005, 1.015)))]  # CI above 1, but under the 1.7% floor
    report = build_report(frame(rows), manifest(noise_floor=FLOOR))
    assert [r[-1] for r in report.headline.rows] == ["smaller, speed within the noise, less accurate (-4.0 pp)",
                                                    "smaller, speed within the noise, less accurate (-4.8 pp)"]


def _with_a_slow_student() -> pd.DataFrame:
    """paired_results() and int8-16: 2.5x smaller than the teacher, accuracy 98.5%, 3x slower at batch size 1
    (paired speedup 0.33x, 0.31x-0.35x) and as fast at 64 (0.98x, 0.90x-1.05x)."""
    rows = paired_results().to_dict("records")
    rows += [row("int8-16", "accuracy", 0.985, ci=(0.975, 0.995)), row("int8-16", "params", 10_000),
             row("int8-16", "size_bytes", 16_384)]
    for size, p50, (speedup, low, high) in ((1, 6.0, (0.33, 0.31, 0.35)), (64, 8.2, (0.98, 0.90, 1.05))):
        rows += [row("int8-16", "latency_p50_ms", p50, batch_size=size, ci=(0.95 * p50, 1.05 * p50)),
                 row("int8-16", "speedup_vs_teacher", speedup, batch_size=size, ci=(low, high))]
    return frame(rows)


def test_a_student_slower_than_the_teacher_is_called_out_with_its_numbers() -> None:
    report = build_report(_with_a_slow_student(), MANIFEST)
    assert report.findings[0] == ("int8-16 (quantize) ran 3.03x slower than the teacher at batch size 1 on cpu: "
                                  "speedup 0.33x, 95% interval 0.31x–0.35x.")
    slow = dict(zip(report.headline.column("student"), report.headline.column("verdict"), strict=True))
    assert slow["int8-16"] == "smaller but slower than the teacher, accuracy within the noise"
    assert "Stored size against the teacher's 40.0 KiB: scratch-16 (scratch) 4.0 KiB (10.00x smaller), kd-16 (kd) " \
           "4.0 KiB (10.00x smaller), int8-16 (quantize) 16.0 KiB (2.50x smaller)." in report.findings
    assert report.findings[0] in render_markdown(report)
    assert html.escape(report.findings[0], quote=True) in render_html(report)
    # the only call-out: at batch size 64 int8-16's interval holds 1, and the other students are faster
    assert [f for f in report.findings if "slower than the teacher" in f] == [report.findings[0]]


def test_a_slow_student_is_called_out_in_a_run_without_paired_speedups_too() -> None:
    rows = results().to_dict("records")
    rows += [row("int8-16", "accuracy", 0.985, ci=(0.975, 0.995)), row("int8-16", "size_bytes", 16_384),
             row("int8-16", "latency_p50_ms", 6.0, batch_size=1, ci=(5.9, 6.1))]  # teacher 2.0 (1.8-2.2)
    findings = build_report(frame(rows), MANIFEST).findings
    assert findings[0] == ("int8-16 (quantize) ran 3.00x slower than the teacher at batch size 1 on cpu: p50 6.00 "
                           "ms against 2.00 ms, timed in separate windows.")


def _cpu_run_with_gpu_metrics() -> pd.DataFrame:
    """results() with the skipped rows a CPU run writes: 2 GPU metrics for 3 models at 2 batch sizes (they need
    cuda), and compile_seconds (eager compiles nothing)."""
    rows = results().to_dict("records")
    for model in ("teacher", "scratch-16", "kd-16"):
        for size in (1, 64):
            rows += [row(model, name, NAN, batch_size=size, status="skipped",
                         error="GPU telemetry applies to cuda devices, not cpu")
                     for name in ("gpu_util_pct", "energy_j_per_sample")]
            rows.append(row(model, "compile_seconds", NAN, batch_size=size, status="skipped",
                            error="eager PyTorch compiles nothing"))
    return frame(rows)


def test_a_cpu_run_says_gpu_metrics_and_eager_compile_times_do_not_apply() -> None:
    report = build_report(_cpu_run_with_gpu_metrics(), MANIFEST)
    assert report.facts.endswith("48 measurements: 29 ok, 18 metrics do not apply here (12 GPU metrics: this host "
                                 "has no GPU; 6 compile times: eager PyTorch compiles nothing), 1 failed.")
    assert report.failures is not None
    assert report.failures.paragraphs == ("18 metrics do not apply here (12 GPU metrics: this host has no GPU; 6 "
                                          "compile times: eager PyTorch compiles nothing): compile_seconds, "
                                          "energy_j_per_sample, gpu_util_pct.",)
    status = dict(zip(report.failures.tables[0].column("metrics"), report.failures.tables[0].column("status"),
                      strict=True))
    # the table keeps what a user can act on: the summary line above already counts what does not apply
    assert status == {"latency_p50_ms": "error"}
    md = render_markdown(report)
    assert "18 metrics do not apply here" in md and "skipped" not in md.split("## Which student", 1)[0]
    with_gpu = build_report(_cpu_run_with_gpu_metrics(), manifest(hardware={"gpu": "NVIDIA H200", "gpu_count": 1}))
    assert "(12 GPU metrics: cells off cuda; 6 compile times" in with_gpu.facts


def test_a_run_whose_only_gaps_do_not_apply_has_no_failures_table() -> None:
    """Every non-ok row is a metric that does not apply here: the section is the one line that counts them."""
    df = _cpu_run_with_gpu_metrics()
    report = build_report(df[df["status"] != "error"], MANIFEST)
    assert report.failures is not None and report.failures.tables == ()
    assert report.failures.paragraphs[0].startswith("18 metrics do not apply here")


def test_a_skip_with_a_reason_of_its_own_stays_a_skip() -> None:
    rows = results().to_dict("records")
    rows.append(row("kd-16", "compile_seconds", NAN, batch_size=1, status="skipped",
                    error="onnx: onnxruntime is not installed"))
    rows[-1]["backend"] = "onnx"
    report = build_report(frame(rows), MANIFEST)
    assert report.facts.endswith("1 skipped, 1 failed.") and "do not apply" not in report.facts


def test_write_html_report_builds_the_report_once_for_both_files(tmp_path, monkeypatch) -> None:
    from harness.report import html as html_report
    from harness.report.html import write_html_report

    built: list[Report] = []

    def counted(*args, **kwargs) -> Report:
        built.append(build_report(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(html_report, "build_report", counted)
    index = write_html_report(_with_a_slow_student(), MANIFEST, tmp_path)
    assert len(built) == 1
    report = built[0]
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == render_markdown(report)
    assert index.read_text(encoding="utf-8") == render_html(report)
    assert report.pareto is not None and report.pareto.path == tmp_path / "pareto.png"
    assert "pareto" not in [f.name for f in report.figures]  # beside the headline, not again under Figures
    md = render_markdown(report)
    assert md.index("\n| int8-16 ") < md.index("](pareto.png)") < md.index("## Machine")
    page = index.read_text(encoding="utf-8")
    beside = page.split('<div class="beside">', 1)[1].split("<h2>", 1)[0]
    assert "<td>int8-16</td>" in beside and 'id="fig-pareto"' in beside


@pytest.mark.parametrize("missing", ["accuracy", "latency"])
def test_the_headline_says_what_it_cannot_judge(missing: str) -> None:
    df = results()
    if missing == "accuracy":
        df = df[~((df["model"] == "kd-16") & (df["metric"] == "accuracy"))]
        verdicts = build_report(df, MANIFEST).headline.column("verdict")
        assert verdicts[1] == "smaller, speed not judged (no interval), accuracy not measured"
    else:
        df = df[df["batch_size"].isna()]
        report = build_report(df, MANIFEST)
        assert "No latency was measured, so no speed is compared." in report.headline.intro
        assert report.headline.column("verdict") == ("smaller, speed not measured, less accurate (-4.0 pp)",
                                                     "smaller, speed not measured, less accurate (-4.8 pp)")


# Paired quality: hand-made per-example predictions of 200 test examples (label i % 10), one seed unless a test
# says so. The teacher is wrong on examples 0-3, scratch-16 on 0-19; kd-16 on 0-5 (a planted gain over its
# baseline scratch-16: 14 discordant pairs, all for kd-16) or, for a tie, on 0-17, 30 and 31 (2 for, 2 against).
EXAMPLES = 200
SUITE = {"name": "quick", "version": 1, "teacher": {"name": "teacher", "arch": "mlp", "params": {"hidden": [512]}},
         "students": [{"name": s, "arch": "mlp", "params": {"hidden": [16]}, "init": "random",
                       "method": [{"name": m}]} for s, m in (("scratch-16", "scratch"), ("kd-16", "kd"))]}
PAIRED_RUN = manifest(suite=SUITE)
KD_GAIN, KD_TIE = [*range(6)], [*range(18), 30, 31]


def _wrong_on(examples: list[int]) -> np.ndarray:
    correct = np.ones(EXAMPLES, dtype=bool)
    correct[examples] = False
    return correct


def predictions(correct: dict[str, list[np.ndarray]], labels: np.ndarray | None = None) -> pd.DataFrame:
    """A predictions table: model -> each seed's correctness on every example (confidence 0.9 right, 0.6 wrong)."""
    labels = np.arange(EXAMPLES) % 10 if labels is None else labels
    rows = [{"run_id": "r1", "model": model, "seed": seed, "dtype": "float32", "example": i, "label": int(labels[i]),
             "predicted": int(labels[i]) if ok else int(labels[i]) + 1, "correct": bool(ok),
             "agrees_with_teacher": None, "confidence": 0.9 if ok else 0.6}
            for model, seeds in correct.items() for seed, right in enumerate(seeds) for i, ok in enumerate(right)]
    return store_frame(rows, PREDICTION_COLUMNS)


def _planted(kd_wrong: list[int]) -> pd.DataFrame:
    return predictions({"teacher": [_wrong_on([*range(4)])], "scratch-16": [_wrong_on([*range(20)])],
                        "kd-16": [_wrong_on(kd_wrong)]})


def test_the_headline_calls_accuracy_against_each_baseline_from_the_paired_test() -> None:
    found = _planted(KD_GAIN)
    report = build_report(paired_results(), PAIRED_RUN, predictions=found)
    assert report.headline.columns == ("student", "method", "size vs teacher", "speedup at batch size 1",
                                       "speedup 95% CI", "baseline", "accuracy gain (pp)", "gain 95% CI (pp)",
                                       "paired p, Holm-adjusted", "verdict")
    # the numbers are harness.against_baseline's: the pooled gain and the p-values Holm-adjusted across students
    expected = {s: pooled(found, s, b) for s, b in (("scratch-16", "teacher"), ("kd-16", "scratch-16"))}
    adjusted = _holm({s: r.test.p for s, r in expected.items()})
    assert adjusted == pytest.approx({"scratch-16": 2 * 2 * 0.5**16, "kd-16": 2 * 0.5**14}, rel=1e-12)  # 16 and 14
    for line in report.headline.rows:
        result = expected[line[0]]
        assert line[5:9] == (result.baseline, pp(result.gain.value),
                             f"{pp(result.gain.ci_low)} to {pp(result.gain.ci_high)}", format_p(adjusted[line[0]]))
    assert report.headline.rows[1][5:] == ("scratch-16", "+7.0", report.headline.rows[1][7], "0.00012",
                                           "smaller and faster, more accurate than scratch-16 (+7.0 pp)")
    assert report.headline.rows[0][-1] == "smaller and faster, less accurate than the teacher (-8.0 pp)"
    assert f"Holm-adjusted across the run's 2 students, gives p < 0.05 ({TEST_NAME})" in report.headline.notes[0]
    assert TEST_NAME in render_markdown(report).split("## Machine")[0]


def test_the_findings_call_a_planted_gain_clearly_better_with_the_test_and_its_numbers() -> None:
    found = _planted(KD_GAIN)
    findings = build_report(paired_results(), PAIRED_RUN, predictions=found).findings
    gain = pooled(found, "kd-16", "scratch-16").gain
    assert (f"kd-16 (kd) vs its baseline, scratch-16 (scratch): gain +7.0 pp (95% interval {pp(gain.ci_low)} to "
            f"{pp(gain.ci_high)}) on 200 test examples; exact McNemar on 14 examples where they differ "
            "(14 for, 0 against), "
            "Holm-adjusted p = 0.00012 < 0.05: clearly better.") in findings
    assert (f"Against their baselines ({TEST_NAME}, 5%), 1 of 2 students came out clearly better, 0 "
            "showed no measurable difference and 1 came out clearly worse.") in findings
    assert findings[-1].startswith("Accuracy is called clearly better or worse only when the exact paired test on the "
                                   "same test examples (each example once, whatever the seeds; McNemar with one seed a "
                                   "side), Holm-adjusted across the run's 2 students, gives p < 0.05")
    assert not [f for f in findings if "intervals disjoint" in f or "intervals overlap" in f]  # no unpaired call


def test_a_tie_is_not_called() -> None:
    report = build_report(paired_results(), PAIRED_RUN, predictions=_planted(KD_TIE))
    kd = report.headline.rows[1]
    assert kd[5:] == ("scratch-16", "0.0", kd[7], "1", "smaller and faster, accuracy within the noise of scratch-16")
    sentence = next(f for f in report.findings if f.startswith("kd-16 (kd) vs its baseline"))
    assert sentence.endswith("exact McNemar on 4 examples where they differ (2 for, 2 against), "
                             "Holm-adjusted p = 1 >= 0.05: "
                             "no measurable difference.")
    assert not [f for f in report.findings if "clearly better" in f and f.startswith("kd-16")]


def test_without_predictions_the_headline_keeps_the_unpaired_rule_and_says_so() -> None:
    report = build_report(paired_results(), PAIRED_RUN)
    assert report.headline.columns[-3:] == ("accuracy change (pp)", "accuracy change 95% CI (pp)", "verdict")
    assert report.headline.notes[1] == (
        "Accuracy is compared with the teacher's from the two 95% intervals, not paired by test example: these "
        "results have no per-example predictions (a run before schema 4, or not a classification task), so no "
        "paired test (exact McNemar on the same examples) can be made.")
    assert any("intervals disjoint: clearly worse" in f for f in report.findings)


def test_each_seed_is_shown_with_the_pooled_line_that_decides() -> None:
    seeds = {"teacher": [_wrong_on([*range(4)])],
             "scratch-16": [_wrong_on([*range(20)]), _wrong_on([*range(2, 22)]), _wrong_on([*range(20)])],
             "kd-16": [_wrong_on(KD_GAIN), _wrong_on([*range(10)]), _wrong_on(KD_TIE)]}
    found = predictions(seeds)
    report = build_report(paired_results(), PAIRED_RUN, predictions=found)
    section = next(s for s in report.sections if s.title == "Against the baseline, seed by seed")
    assert "Holm-adjusted (across the run's 2 students)" in section.paragraphs[0]
    result = pooled(found, "kd-16", "scratch-16")
    adjusted = _holm({"scratch-16": pooled(found, "scratch-16", "teacher").test.p, "kd-16": result.test.p})
    kd = [r for r in section.tables[0].rows if r[0] == "kd-16"]
    assert [r[2:7] for r in kd[:3]] == [
        ("0", "+7.0", kd[0][4], "14 / 0", format_p(2 * 0.5**14)),
        ("1", "+5.0", kd[1][4], "12 / 2", format_p(2 * (1 + 14 + 91) / 2**14)),  # scratch wrong on 2-21, kd on 0-9
        ("2", "0.0", kd[2][4], "2 / 2", "1")]
    # each example once: each side's correctness averaged over its distinct seeds, here by hand (scratch-16's seeds
    # 0 and 2 predict identically: one observation, not two)
    d = np.mean(seeds["kd-16"], axis=0) - np.mean([seeds["scratch-16"][0], seeds["scratch-16"][1]], axis=0)
    b, c = d[d > 0].sum(), -d[d < 0].sum()
    assert kd[3] == ("kd-16", "scratch-16", "all 3, each example once", pp(result.gain.value),
                     f"{pp(result.gain.ci_low)} to {pp(result.gain.ci_high)}", f"{b:.4g} / {c:.4g}",
                     format_p(result.test.p), format_p(adjusted["kd-16"]))
    assert pp(result.gain.value) == pp(d.mean()) == "+4.0"  # (7 + 5 + 0) / 3 pp
    assert b + c < 28 + 4  # the seeds' pairs counted as 32 independent examples; the examples are fewer
    assert "the table 'Against the baseline, seed by seed' shows each seed" in report.headline.notes[1]


def test_the_classes_compression_costs_most_come_first() -> None:
    report = build_report(paired_results(), PAIRED_RUN, predictions=_planted(KD_GAIN))
    table = next(s for s in report.sections if s.title == "Classes compression costs most").tables[0]
    assert table.columns == ("class", "examples", "teacher (%)", "scratch-16 (%)", "scratch-16 drop (pp)",
                             "kd-16 (%)", "kd-16 drop (pp)")
    # 20 examples a class; the teacher misses one of classes 0-3, scratch-16 two of every class, kd-16 one of 0-5
    assert table.rows[:3] == (("4", "20", "100.0", "90.0", "10.0", "95.0", "5.0"),
                              ("5", "20", "100.0", "90.0", "10.0", "95.0", "5.0"),
                              ("6", "20", "100.0", "90.0", "10.0", "100.0", "0.0"))
    assert [r[0] for r in table.rows] == ["4", "5", "6", "7", "8", "9", "0", "1", "2", "3"]
    assert table.rows[-1] == ("3", "20", "95.0", "90.0", "5.0", "95.0", "0.0") and table.notes == ()


def test_the_classes_table_shows_ten_classes_and_says_it_cut_the_rest() -> None:
    labels = np.arange(60) % 12  # 12 classes, 5 examples each; the student misses k of class k (and of k + 6)
    student = np.array([i // 12 >= labels[i] % 6 for i in range(60)])
    found = predictions({"teacher": [np.ones(60, dtype=bool)], "kd-16": [student]}, labels)
    section = classes_section(found, "teacher", ["kd-16"])
    assert section is not None
    table = section.tables[0]
    assert [r[0] for r in table.rows] == ["5", "11", "4", "10", "3", "9", "2", "8", "1", "7"]
    assert table.rows[0] == ("5", "5", "100.0", "0.0", "100.0")
    assert table.rows[-1] == ("7", "5", "100.0", "80.0", "20.0")
    assert table.notes == ("10 of 12 classes shown; the other 2 cost no student more than the last one shown.",)


def test_the_models_table_shows_ece_with_its_interval() -> None:
    rows = results().to_dict("records")
    rows += [row(m, "ece", v, ci=ci) for m, v, ci in (("teacher", 0.012, (0.010, 0.034)),
                                                      ("scratch-16", 0.099, (0.083, 0.120)))]
    rows.append(row("kd-16", "ece", NAN, status="error", error="no softmax"))
    models = next(s for s in build_report(frame(rows), MANIFEST).sections if s.title == "Models").tables[0]
    assert models.column("ECE (%)") == ("1.2", "9.9", "—")
    assert models.column("ECE 95% CI (%)") == ("1.0–3.4", "8.3–12.0", "—")
    assert "ece (kd-16): error: no softmax" in models.missing


def test_the_classes_table_names_classes_by_the_labels_the_data_file_had() -> None:
    """A string target (the manifest's dataset_info.classes, by id) is shown by its labels, not its ids 0..K-1."""
    labels = np.arange(30) % 3
    student = labels != 2  # misses every example of class 2
    found = predictions({"teacher": [np.ones(30, dtype=bool)], "kd-16": [student]}, labels)
    section = classes_section(found, "teacher", ["kd-16"], ["setosa", "versicolor", "virginica"])
    assert section is not None
    assert [r[0] for r in section.tables[0].rows] == ["virginica", "setosa", "versicolor"]
    assert section.tables[0].rows[0] == ("virginica", "10", "100.0", "0.0", "100.0")
