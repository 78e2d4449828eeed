"""The run report of the tiny suite: index.html self-contained, its numbers those stored, and checked in Chromium."""

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.against_baseline import TEST_NAME, pooled
from harness.cli import main
from harness.metrics import METRICS
from harness.report.formatting import format_value
from harness.report.paired_calls import format_p, pp
from harness.store import load_predictions, load_results, read_manifest
from tests.conftest import FIXTURES

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000", "--window-size=1280,2000"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run directory, index.html) of one run of tests/fixtures/tiny.yaml through the CLI."""
    tmp = tmp_path_factory.mktemp("html")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp / "results"),
                     "--reports", str(tmp / "reports"), "--no-cache"])  # leaves the session cache to other tests
    assert code == 0
    lines = out.getvalue().strip().splitlines()
    index = Path(next(line for line in lines if line.startswith("report: ")).removeprefix("report: "))
    return Path(lines[-1]), index


def test_both_reports_and_the_figures_are_written(report):
    run_dir, index = report
    assert index.name == "index.html" and index.parent.parts[-2:] == ("tiny", run_dir.name)
    files = {p.name for p in index.parent.iterdir()}
    assert {"index.html", "report.md", "accuracy_vs_latency.png", "latency_throughput.png", "peak_memory.png",
            "compression.png"} <= files
    md = (index.parent / "report.md").read_text()
    assert "![Peak memory against batch size](peak_memory.png)" in md


def test_html_is_self_contained(report):
    text = report[1].read_text()
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert not re.search(r'(src|href)="(?!data:)', text)  # every src/href is a data URI
    figures = len(list(report[1].parent.glob("*.png")))  # 5 where the run has speedup_vs_teacher rows
    assert figures >= 4 and text.count('src="data:image/png;base64,') == figures


def test_table_numbers_are_the_stored_results(report):
    run_dir, index = report
    text = index.read_text()
    df = load_results(run_dir)
    teacher = df[(df["model"] == "teacher") & df["batch_size"].isna()].set_index("metric")["value"]
    # models table row: model, role, method, seeds, params, ...
    row = re.search(r"<tr>\s*<td>teacher</td>\s*<td>teacher</td>\s*<td>[^<]*</td>\s*<td>0</td>\s*<td>([^<]*)</td>",
                    text)
    assert row and row.group(1) == format_value(teacher["params"], "count") == "195"
    accuracy = format_value(teacher["accuracy"], "fraction")
    kd = df[(df["model"] == "kd-4") & (df["metric"] == "latency_p50_ms") & (df["batch_size"] == 8)]["value"].iloc[0]
    section = text.split("<h3>Batch size 8 (cpu)</h3>", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", section)
    assert cells[:4] == ["teacher", "train", "1", accuracy]
    assert format_value(kd, "ms") in cells[cells.index("kd-4"):]


def test_the_first_screen_answers_which_student_to_ship(report):
    run_dir, index = report
    text = index.read_text()
    assert text.index("<h2>Which student to ship</h2>") < text.index("<h2>Machine</h2>")
    beside = text.split('<div class="beside">', 1)[1].split("<h2>", 1)[0]  # the headline and the Pareto figure
    assert "<td>kd-4</td>" in beside and 'id="fig-pareto"' in beside
    md = (index.parent / "report.md").read_text()
    head = md.split("## Which student to ship\n", 1)[1].split("\n## ", 1)[0]
    assert "\n| kd-4 " in head and head.rstrip().endswith("(pareto.png)")


def test_what_does_not_apply_to_a_cpu_run_is_counted_apart_from_skips(report):
    run_dir, index = report
    df = load_results(run_dir)
    gpu_only = df[df["metric"].isin([m for m in METRICS.names() if METRICS.get(m).needs_cuda])]
    assert len(gpu_only) and set(gpu_only["status"]) == {"skipped"} and set(gpu_only["device"]) == {"cpu"}
    where = "cells off cuda" if read_manifest(run_dir).hardware.gpu else "this host has no GPU"
    eager = df[(df["metric"] == "compile_seconds") & (df["backend"] == "eager")]
    embedding = df[df["metric"].isin(["cosine_to_teacher", "neighbor_recall"])]  # a classification dataset
    assert len(eager) and len(embedding) and set(eager["status"]) == set(embedding["status"]) == {"skipped"}
    reference = df[df["metric"].isin(["accuracy_gain_vs_baseline", "mcnemar_p_vs_baseline"])
                   & (df["role"] == "teacher")]  # the teacher is every baseline's reference: no test of its own
    assert len(reference) == 2 and set(reference["status"]) == {"skipped"}
    noise = df[df["metric"] == "accuracy_under_noise"]  # the suite sets no measure.noise_sigmas
    assert len(noise) == 2 and set(noise["status"]) == {"skipped"}
    na = len(gpu_only) + len(eager) + len(embedding) + len(reference) + len(noise)
    md = (index.parent / "report.md").read_text()
    assert (f"{na} metrics do not apply here ({len(gpu_only)} GPU metrics: {where}; {len(eager)} compile times: "
            f"eager PyTorch compiles nothing; {len(embedding)} embedding metrics: not this dataset's task; "
            f"{len(noise)} accuracy under noise: the suite asked for no noise levels; {len(reference)} tests against "
            "a baseline: the teacher is the reference)") in md
    assert ((df["status"] == "skipped").sum() == na) == ("skipped" not in md.split("## Which student", 1)[0])


def test_accuracy_is_called_from_the_paired_test_of_the_stored_predictions(report):
    run_dir, index = report
    md = (index.parent / "report.md").read_text()
    head = md.split("## Which student to ship\n", 1)[1].split("\n## ", 1)[0]
    kd = next(line for line in head.splitlines() if line.startswith("| kd-4 "))
    cells = [c.strip() for c in kd.strip("|").split("|")]
    result = pooled(load_predictions(run_dir), "kd-4", "teacher")  # no scratch twin: the teacher is its baseline
    assert result is not None and cells[5:9] == [
        "teacher", pp(result.gain.value), f"{pp(result.gain.ci_low)} to {pp(result.gain.ci_high)}",
        format_p(result.test.p)]  # one student: Holm leaves its p as it is
    assert f"({TEST_NAME})" in head and "## Classes compression costs most" in md
    assert "- kd-4 (kd) vs its baseline, teacher (train): gain" in md
    assert (index.parent / "reliability.png").is_file() and "](reliability.png)" in md
    assert "ECE 95% CI (%)" in md.split("## Models", 1)[1].split("\n## ", 1)[0]


def test_figures_a_one_seed_cpu_run_cannot_support_are_listed_with_the_reason(report):
    text = report[1].read_text()
    assert "Energy per sample against batch size: no energy was measured: it needs a cuda device with NVML." in text
    assert "Accuracy across seeds per model: one seed: every model ran with a single seed" in text
    assert "Accuracy against the std of Gaussian noise added to the test inputs: no accuracy_under_noise rows" in text
    md = (report[1].parent / "report.md").read_text()
    assert "- Energy per sample against batch size: no energy was measured" in md
    assert not (report[1].parent / "energy.png").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_page_loads_in_chromium_with_tables_and_every_image_decoded(report, tmp_path):
    index = report[1]
    url = index.resolve().as_uri()
    figures = len(list(index.parent.glob("*.png")))  # every figure written is embedded, and each decodes
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert figures >= 5 and f'data-images="decoded:{figures}/{figures}"' in dom
    assert dom.count("<table") >= 4  # models, two batch sizes, failures
    assert "<h2>Findings</h2>" in dom
    shot = tmp_path / "screenshot.png"  # not beside the report: the other tests count its figures
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'shot'}", f"--screenshot={shot}", url],
                   capture_output=True, timeout=60, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
