"""harness hardware: two thread counts of one suite as two machines, compared cell by cell."""

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.report.hardware import comparison_table, environment_table, load_machines, machine_labels
from harness.report.hardware_report import write_hardware_report
from harness.store import load_results
from tests.helpers import MANIFEST_KEYS


def test_machines_are_fingerprint_plus_threads(runs):
    rows, envs, left_out = load_machines([runs["whole"]])
    assert list(envs) == ["1 thread", "2 threads"]
    assert envs["1 thread"]["threads"] == 1 and envs["2 threads"]["threads"] == 2
    # the closed-loop sweep alone: the server scenario's p50 is a response time under load
    timed = load_results(runs["whole"]).query("batch_size == batch_size and metric == 'latency_p50_ms' "
                                              "and scenario == 'single_stream'")
    assert len(rows[rows["metric"] == "latency_p50_ms"]) == len(timed[timed["status"] == "ok"]) > 0
    assert len(left_out) == 1 and left_out[0].startswith("cuda:7 in run ") and "not available" in left_out[0]


def test_speedup_is_reference_p50_over_p50(runs):
    rows, envs, _ = load_machines([runs["whole"]])
    machines = ["1 thread", "2 threads"]
    table = comparison_table(rows, machines, reference=machines[0])
    assert len(table) == 4 * 2 * 2  # models × batch sizes × machines
    for _, group in table.groupby(["model", "batch_size"]):
        ref, other = (group.set_index("machine").loc[m] for m in machines)
        assert ref["speedup_vs_reference"] == 1.0
        assert math.isclose(other["speedup_vs_reference"], ref["latency_p50_ms"] / other["latency_p50_ms"])
        assert other["latency_p50_ms_low"] <= other["latency_p50_ms"] <= other["latency_p50_ms_high"]
    env = environment_table(envs)
    assert env.loc[0, "field"] == "threads" and env.loc[0, "differs"] == "yes"
    assert (env.loc[1:, "differs"] == "").all()


def test_labels_name_only_what_differs():
    assert machine_labels([{"cpu": "A", "threads": 2}, {"cpu": "B", "threads": 2}]) == ["A", "B"]
    assert machine_labels([{"cpu": "A"}, {"cpu": "A"}]) == ["#1", "#2"]


def test_report_files(runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    index = write_hardware_report([runs["whole"]], tmp_path, reference="2 threads")
    assert index == tmp_path / "matrix" / "index.html"
    page = index.read_text()
    assert not re.search(r"(src|href)=\"https?:", page) and page.count("data:image/png;base64,") == 2
    text = (index.parent / "report.md").read_text()
    assert "Reference: 2 threads" in text and "| threads " in text and "cuda:7 in run" in text
    assert "1 thread against the reference machine 2 threads: speedup vs reference machine" in text
    assert {p.name for p in index.parent.glob("*.png")} == {"hardware_latency.png", "hardware_speedup.png"}
    with pytest.raises(HarnessError, match="--reference 'gpu': not a machine"):
        write_hardware_report([runs["whole"]], tmp_path, reference="gpu")
    assert main(["hardware", str(runs["whole"]), "--out", str(tmp_path), "--reference", "nope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_run_report_and_leaderboard_keep_thread_counts_apart(runs, tmp_path: Path):
    from harness.report import write_html_report
    from harness.report.leaderboard import leaderboard
    from harness.store import read_manifest

    df = load_results(runs["whole"])
    write_html_report(df, read_manifest(runs["whole"]), tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "### Batch size 8 (cpu, 1 thread)" in text and "### Batch size 8 (cpu, 2 threads)" in text
    with pytest.raises(HarnessError, match="cpu, 1 thread"):  # several devices: one must be chosen
        leaderboard(df, by="latency_p50_ms", batch_size=8)
    one = leaderboard(df, by="latency_p50_ms", batch_size=8, device="cpu, 2 threads")
    two_threads = df.query("metric == 'latency_p50_ms' and batch_size == 8 and threads == 2 and model == 'kd-4'")
    assert one.set_index("model").loc["kd-4", "latency_p50_ms"] == two_threads["value"].iloc[0]


def test_backends_of_one_model_stay_apart(tmp_path: Path):
    """A model timed as eager and onnx is two entries on each machine, never one pooled p50."""
    from harness.store import RunWriter

    writer = RunWriter.create(tmp_path, "hand", {**MANIFEST_KEYS, "hardware": {"cpu": "X", "torch": "2.13.0"}})
    rows = [{"suite": "hand", "model": "m", "role": "teacher", "method": "train", "seed": 0, "device": "cpu",
             "dtype": "float32", "threads": threads, "backend": backend, "batch_size": 1, "metric": "latency_p50_ms",
             "value": ms / threads, "unit": "ms", "status": "ok", "error": ""}
            for threads in (1, 2) for backend, ms in (("eager", 4.0), ("onnx", 1.0))]
    writer.append(rows)
    writer.finish("complete")
    found, envs, _ = load_machines([writer.run_dir])
    table = comparison_table(found, list(envs), reference="1 thread").set_index(["model", "machine"])
    assert table.loc[("m", "1 thread"), "latency_p50_ms"] == 4.0 and table.loc[("m [onnx]", "1 thread"),
                                                                               "latency_p50_ms"] == 1.0
    assert table.loc[("m", "2 threads"), "speedup_vs_reference"] == 2.0
    assert table.loc[("m [onnx]", "2 threads"), "speedup_vs_reference"] == 2.0


def _hand_run(tmp_path: Path, paired: bool) -> Path:
    """A teacher (4 ms / threads) and a student (1 ms / threads) timed with 1 and 2 threads at batch size 1;
    with ``paired``, their speedup_vs_teacher rows (schema 3; the student's 4.2x and 3.0x), else none (an older
    run)."""
    from harness.store import RunWriter

    writer = RunWriter.create(tmp_path, "hand", {**MANIFEST_KEYS, "hardware": {"cpu": "X", "torch": "2.13.0"}})
    base = {"suite": "hand", "method": "train", "seed": 0, "device": "cpu", "dtype": "float32", "backend": "eager",
            "batch_size": 1, "unit": "ms", "status": "ok", "error": ""}
    rows = []
    for threads in (1, 2):
        paired_speedup = {1: (4.2, 4.0, 4.4), 2: (3.0, 2.9, 3.1)}[threads]
        for model, role, ms, speedup in (("t", "teacher", 4.0, (1.0, 1.0, 1.0)), ("s", "student", 1.0, paired_speedup)):
            rows.append({**base, "model": model, "role": role, "threads": threads, "metric": "latency_p50_ms",
                         "value": ms / threads})
            if paired:
                rows.append({**base, "model": model, "role": role, "threads": threads, "unit": "x",
                             "metric": "speedup_vs_teacher", "value": speedup[0],
                             "ci_low": speedup[1], "ci_high": speedup[2]})
    writer.append(rows)
    writer.finish("complete")
    return writer.run_dir


def test_speedup_vs_teacher_is_the_paired_metric_per_machine(tmp_path: Path):
    from harness.report.hardware import display_comparison

    found, envs, _ = load_machines([_hand_run(tmp_path, paired=True)])
    table = comparison_table(found, list(envs), reference="1 thread").set_index(["model", "machine"])
    student = table.loc[("s", "2 threads")]
    assert student["speedup_vs_teacher"] == 3.0  # the stored value, not 2.0 / 0.5 = 4.0 of the p50s
    assert (student["speedup_vs_teacher_low"], student["speedup_vs_teacher_high"]) == (2.9, 3.1)
    assert bool(student["speedup_vs_teacher_paired"]) and student["speedup_vs_reference"] == 2.0
    shown = display_comparison(table.reset_index()).set_index(["model", "machine"])
    assert shown.loc[("s", "1 thread"), "speedup vs teacher"] == "4.2x"
    assert shown.loc[("s", "1 thread"), "speedup vs teacher 95% CI"] == "4.00x–4.40x"
    assert shown.loc[("s", "2 threads"), "speedup vs reference machine (unpaired)"] == "2x"


def test_runs_without_the_paired_metric_fall_back_to_the_unpaired_ratio_labelled_so(tmp_path: Path):
    from harness.report.hardware import display_comparison

    found, envs, _ = load_machines([_hand_run(tmp_path, paired=False)])
    table = comparison_table(found, list(envs), reference="1 thread")
    student = table.set_index(["model", "machine"]).loc[("s", "2 threads")]
    assert (student["speedup_vs_teacher"], bool(student["speedup_vs_teacher_paired"])) == (4.0, False)  # 2.0 / 0.5
    shown = display_comparison(table).set_index(["model", "machine"])
    assert shown.loc[("s", "2 threads"), "speedup vs teacher"] == "4x (unpaired)"
    assert shown.loc[("s", "2 threads"), "speedup vs teacher 95% CI"] == "—"


COMPRESSED = """
name: compressed
dataset: {name: synthetic, num_samples: 100, seed: 3}
teacher: {arch: mlp, params: {hidden: [16]}, train: {epochs: 1, lr: 1.0e-2, batch_size: 32}}
students:
  - {name: int8-teacher, init: teacher, method: {name: quantize, mode: dynamic}}
  - {name: pruned-teacher, init: teacher, method: {name: prune, sparsity: 0.5, epochs: 1, lr: 1.0e-3}}
measure:
  devices: [cpu]
  threads: [1, 2]
  batch_sizes: [1, 8]
  latency: {min_iters: 5, max_seconds: 0.05}
seeds: [0]
"""


def test_int8_and_pruned_students_are_models_not_machines(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """An int8 student's rows say int8: that is the model's dtype, not a third machine. The two machines are the two
    thread counts, every model is on both, "--reference '1 thread'" names one, and the figures are drawn."""
    from harness.cache import ModelCache
    from harness.runner import run_suite
    from harness.suite import load_suite

    (tmp_path / "compressed.yaml").write_text(COMPRESSED)
    run = run_suite(load_suite(tmp_path / "compressed.yaml"), tmp_path / "results", ModelCache(tmp_path / "cache"),
                    log=lambda _: None).run_dir
    df = load_results(run)
    assert set(df.loc[df["model"] == "int8-teacher", "dtype"].dropna()) == {"int8"}  # what made it a machine before
    rows, envs, _ = load_machines([run])
    assert list(envs) == ["1 thread", "2 threads"]
    table = comparison_table(rows, list(envs), reference="1 thread")
    assert set(table["model"]) == {"teacher", "int8-teacher", "pruned-teacher"}
    assert table.groupby("model")["machine"].nunique().eq(2).all()
    assert table["speedup_vs_reference"].notna().all()
    assert main(["hardware", str(run), "--reference", "1 thread", "--out", str(tmp_path / "hw")]) == 0
    index = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert index.exists() and {p.name for p in index.parent.glob("*.png")} == {"hardware_latency.png",
                                                                              "hardware_speedup.png"}
    assert "int8-teacher" in (index.parent / "report.md").read_text()


def test_a_model_measured_on_one_machine_only_is_drawn_without_a_scale_error(tmp_path: Path):
    """Its speedup against the reference is missing on every batch size: the panel says so instead of raising
    matplotlib's "Data cannot be log-scaled" (as the log-scaled latency panel of a model with no latency did)."""
    from harness.report.hardware_report import write_figures

    nan = math.nan
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "machine": ["one", "two", "two", "two"],
                          "batch_size": [1, 1, 1, 8], "latency_p50_ms": [1.0, 0.5, nan, nan],
                          "latency_p50_ms_low": [0.9, 0.4, nan, nan], "latency_p50_ms_high": [1.1, 0.6, nan, nan],
                          "speedup_vs_reference": [1.0, 2.0, nan, nan]})
    paths = write_figures(table, tmp_path)
    assert all(p.stat().st_size > 0 for p in paths.values())
