"""harness hardware: two thread counts of one suite as two machines, compared cell by cell."""

import math
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.report.hardware import comparison_table, environment_table, load_machines, machine_labels
from harness.report.hardware_report import write_hardware_report
from harness.store import load_results
from tests.integration.test_sharding import runs  # noqa: F401  (the module-scoped runs of the matrix suite)


def test_machines_are_fingerprint_plus_threads(runs):  # noqa: F811
    rows, envs, left_out = load_machines([runs["whole"]])
    assert list(envs) == ["1 thread", "2 threads"]
    assert envs["1 thread"]["threads"] == 1 and envs["2 threads"]["threads"] == 2
    timed = load_results(runs["whole"]).query("batch_size == batch_size and metric == 'latency_p50_ms'")
    assert len(rows[rows["metric"] == "latency_p50_ms"]) == len(timed[timed["status"] == "ok"]) > 0
    assert len(left_out) == 1 and left_out[0].startswith("cuda:7 in run ") and "not available" in left_out[0]


def test_speedup_is_reference_p50_over_p50(runs):  # noqa: F811
    rows, envs, _ = load_machines([runs["whole"]])
    machines = ["1 thread", "2 threads"]
    table = comparison_table(rows, machines, reference=machines[0])
    assert len(table) == 4 * 2 * 2  # models × batch sizes × machines
    for _, group in table.groupby(["model", "batch_size"]):
        ref, other = (group.set_index("machine").loc[m] for m in machines)
        assert ref["speedup"] == 1.0
        assert math.isclose(other["speedup"], ref["latency_p50_ms"] / other["latency_p50_ms"])
        assert other["latency_p50_ms_low"] <= other["latency_p50_ms"] <= other["latency_p50_ms_high"]
    env = environment_table(envs)
    assert env.loc[0, "field"] == "threads" and env.loc[0, "differs"] == "yes"
    assert (env.loc[1:, "differs"] == "").all()


def test_labels_name_only_what_differs():
    assert machine_labels([{"cpu": "A", "threads": 2}, {"cpu": "B", "threads": 2}]) == ["A", "B"]
    assert machine_labels([{"cpu": "A"}, {"cpu": "A"}]) == ["#1", "#2"]


def test_report_files(runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # noqa: F811
    index = write_hardware_report([runs["whole"]], tmp_path, reference="2 threads")
    assert index == tmp_path / "matrix" / "index.html"
    page = index.read_text()
    assert not re.search(r"(src|href)=\"https?:", page) and page.count("data:image/png;base64,") == 2
    text = (index.parent / "report.md").read_text()
    assert "Reference: 2 threads" in text and "| threads " in text and "cuda:7 in run" in text
    assert "1 thread against 2 threads: speedup" in text
    assert {p.name for p in index.parent.glob("*.png")} == {"hardware_latency.png", "hardware_speedup.png"}
    with pytest.raises(HarnessError, match="--reference 'gpu': not a machine"):
        write_hardware_report([runs["whole"]], tmp_path, reference="gpu")
    assert main(["hardware", str(runs["whole"]), "--out", str(tmp_path), "--reference", "nope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_run_report_and_leaderboard_keep_thread_counts_apart(runs, tmp_path: Path):  # noqa: F811
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

    writer = RunWriter.create(tmp_path, "hand", {"hardware": {"cpu": "X", "torch": "2.13.0"}})
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
    assert table.loc[("m", "2 threads"), "speedup"] == table.loc[("m [onnx]", "2 threads"), "speedup"] == 2.0
