"""A small suite end to end through the CLI: every metric of every model, a warm cache, a report."""

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.metrics import METRICS
from harness.store import load_results, read_manifest
from tests.conftest import FIXTURES

#: measured on cuda devices only; on this CPU run each is a skipped row with its reason
GPU_METRICS = {"gpu_util_pct", "gpu_power_w", "energy_j_per_sample", "gpu_process_memory_bytes",
               "cuda_peak_allocated_bytes"}
#: skipped with a reason in an eager run of a classification suite on a CPU: the GPU metrics, compile time
#: (eager compiles nothing) and the embedding-quality metrics
#: skipped on this host for every model: no GPU, eager compiles nothing, a classification dataset, no noise levels
SKIPPED_HERE = GPU_METRICS | {"compile_seconds", "cosine_to_teacher", "neighbor_recall", "accuracy_under_noise"}
#: skipped for the teacher alone: it is every baseline's reference
SKIPPED_FOR_TEACHER = {"accuracy_gain_vs_baseline", "mcnemar_p_vs_baseline"}
#: may be below 0: a student worse than its baseline
SIGNED = {"accuracy_gain_vs_baseline"}


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Path, str, str]:
    code = main(["run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp_path / "results"),
                 "--reports", str(tmp_path / "reports"), *extra])
    out, err = capsys.readouterr()
    return code, Path(out.strip().splitlines()[-1]), out, err


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("e2e")
    out, err = io.StringIO(), io.StringIO()
    # a cache of its own, so that the first run builds whichever tests ran before it
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        patch.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))
        code = main(["run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp / "results"),
                     "--reports", str(tmp / "reports")])
    run_dir = Path(out.getvalue().strip().splitlines()[-1])
    return tmp, code, run_dir, out.getvalue(), err.getvalue()


def test_run_exits_zero_and_prints_the_run_directory_last(first_run):
    tmp, code, run_dir, out, err = first_run
    assert code == 0, err
    assert run_dir.parent == tmp / "results" / "tiny"
    assert (run_dir / "manifest.json").is_file() and (run_dir / "measurements.parquet").is_file()
    assert "building" in err


def test_every_metric_of_every_model_is_present(first_run):
    _, _, run_dir, _, _ = first_run
    df = load_results(run_dir)
    assert sorted(df["model"].unique()) == ["kd-4", "teacher"]
    batch_sizes = [1, 8]
    for model in ("teacher", "kd-4"):
        rows = df[df["model"] == model]
        for m in METRICS.names():
            found = rows[rows["metric"] == m]
            if METRICS.get(m).per_batch_size and "single_stream" not in METRICS.get(m).scenarios:
                assert found.empty, (model, m)  # a serving scenario's metric: tiny.yaml serves nothing
                continue
            if METRICS.get(m).per_batch_size:
                assert sorted(found["batch_size"].tolist()) == batch_sizes, (model, m)
            else:
                assert len(found) == 1 and pd.isna(found["batch_size"].iloc[0]), (model, m)
            skipped = m in SKIPPED_HERE or (model == "teacher" and m in SKIPPED_FOR_TEACHER)
            assert set(found["status"]) == ({"skipped"} if skipped else {"ok"}), (model, m, found["error"].tolist())
            if skipped:  # absent with a reason, never a silent 0
                assert found["value"].isna().all() and (found["error"] != "").all()
            else:
                assert found["value"].notna().all() and (m in SIGNED or (found["value"] >= 0).all()), (model, m)
            assert (found["unit"] == METRICS.get(m).unit).all()
    teacher = df[df["model"] == "teacher"].set_index("metric")["value"]
    assert teacher["teacher_agreement"] == 1.0 and teacher["kl_to_teacher"] == pytest.approx(0.0, abs=1e-12)
    # the teacher is an MLP 8 -> 16 -> 3: 8*16 + 16 + 16*3 + 3 parameters
    assert teacher["params"] == 195 and teacher["params_nonzero"] == 195


def test_raw_samples_and_manifest(first_run):
    _, _, run_dir, _, _ = first_run
    samples = load_results(run_dir, samples=True)
    df = load_results(run_dir)
    p50 = df[(df["metric"] == "latency_p50_ms") & (df["model"] == "teacher") & (df["batch_size"] == 8)]
    timed = samples[(samples["model"] == "teacher") & (samples["batch_size"] == 8)]
    assert len(timed) == int(p50["n"].iloc[0]) >= 5
    # the p50 of paired rounds: the median of the rounds' medians, recomputed exactly from the raw samples
    assert p50["value"].iloc[0] == timed.groupby("round")["latency_ms"].median().median()
    assert timed["round"].nunique() >= 3 and set(samples["model"]) == {"teacher", "teacher~aa", "kd-4"}
    manifest = read_manifest(run_dir)
    assert manifest.status == "complete" and manifest.suite["name"] == "tiny"
    assert len(manifest.suite_hash) == 64
    for key in ("cpu", "cores_logical", "ram_bytes", "torch", "python", "threads", "machine_id"):
        assert getattr(manifest.hardware, key) is not None, key


def test_report_written_from_stored_results(first_run):
    tmp, _, run_dir, out, _ = first_run
    report = tmp / "reports" / "tiny" / run_dir.name / "report.md"
    assert f"report: {report.with_name('index.html')}" in out
    text = report.read_text()
    assert "### Batch size 1 (cpu)" in text and "### Batch size 8 (cpu)" in text and "kd-4" in text
    assert main(["report", str(run_dir), "--out", str(tmp / "again")]) == 0
    assert (tmp / "again" / "tiny" / run_dir.name / "report.md").read_text() == text


def test_second_run_trains_nothing_and_gets_the_same_quality(first_run, tmp_path, capsys):
    tmp, _, first_dir, _, _ = first_run
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))
        code, run_dir, _, err = _run(tmp_path, capsys, "--no-report")
    assert code == 0
    assert "building" not in err and "from cache" in err
    assert run_dir != first_dir
    quality = ["accuracy", "teacher_agreement", "kl_to_teacher", "params", "size_bytes", "flops"]

    def values(d: Path) -> pd.Series:
        df = load_results(d)
        return df[df["metric"].isin(quality)].set_index(["model", "metric"])["value"].sort_index()

    pd.testing.assert_series_equal(values(first_dir), values(run_dir))


def test_a_plugin_architecture_runs_without_changing_the_harness(tmp_path, capsys):
    code = main(["run", str(FIXTURES / "plugin_suite.yaml"), "--out", str(tmp_path), "--no-report"])
    out, err = capsys.readouterr()
    assert code == 0, err
    df = load_results(Path(out.strip().splitlines()[-1]))
    linear = df[(df["model"] == "linear") & (df["metric"] == "params")]
    assert linear["value"].tolist() == [8 * 3 + 3]


def test_a_teacher_loaded_from_a_checkpoint(tmp_path, capsys):
    """A teacher given as a safetensors state dict is loaded, not trained, and says so."""
    from harness.build import make_model
    from harness.data import DATASETS
    from harness.models.checkpoint import save_safetensors

    data = DATASETS.get("synthetic")(seed=0, num_samples=120)
    teacher = make_model("mlp", {"hidden": (16,)}, data, seed=3)
    save_safetensors(teacher, tmp_path / "teacher.safetensors")
    text = (FIXTURES / "tiny.yaml").read_text().replace(
        "  train: {epochs: 2, lr: 1.0e-2, batch_size: 32}", "  checkpoint: teacher.safetensors")
    (tmp_path / "suite.yaml").write_text(text)
    code = main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "results"), "--no-report"])
    out, err = capsys.readouterr()
    assert code == 0, err
    df = load_results(Path(out.strip().splitlines()[-1]))
    rows = df[df["model"] == "teacher"].set_index("metric")
    assert rows.loc["train_seconds", "status"] == "skipped"
    assert rows.loc["train_seconds", "error"] == "loaded from a checkpoint"
    assert rows.loc["teacher_agreement", "value"] == 1.0
    expected = (teacher.eval()(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert rows.loc["accuracy", "value"] == pytest.approx(expected)
