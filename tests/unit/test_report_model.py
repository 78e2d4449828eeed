"""The report model: built once from the results and the manifest, rendered to Markdown and to HTML alike.

The results are those of :mod:`tests.unit.test_report` (a teacher, scratch-16 and kd-16 on cpu at batch
sizes 1 and 64), with the paired speedups where a test says so.
"""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from harness.report import build_report, render_html, render_markdown
from harness.report.headline import accuracy_change, verdict
from harness.report.model import Report
from harness.report.tables import Estimate
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
    assert status == {"latency_p50_ms": "error", "compile_seconds": "does not apply",
                      "gpu_util_pct, energy_j_per_sample": "does not apply"}
    md = render_markdown(report)
    assert "18 metrics do not apply here" in md and "skipped" not in md.split("## Which student", 1)[0]
    with_gpu = build_report(_cpu_run_with_gpu_metrics(), manifest(hardware={"gpu": "NVIDIA H200", "gpu_count": 1}))
    assert "(12 GPU metrics: cells off cuda; 6 compile times" in with_gpu.facts


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
