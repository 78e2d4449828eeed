"""The result store: schema, atomic incremental writes, round trip through load_results."""

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.store import (
    COLUMNS,
    MANIFEST,
    MEASUREMENTS,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    SAMPLE_COLUMNS,
    SAMPLES,
    SCHEMA_VERSION,
    RunWriter,
    load_predictions,
    load_results,
)
from harness.verify import verify_run
from tests.helpers import MANIFEST_KEYS


def _row(model: str, metric: str, value: float, batch_size: int | None = None, **kw) -> dict:
    return {"suite": "s", "model": model, "role": "student", "method": "kd", "seed": 0, "device": "cpu",
            "dtype": "float32", "batch_size": batch_size, "metric": metric, "value": value, "unit": "ms", **kw}


def test_round_trip(tmp_path: Path):
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS, "suite_name": "s"})
    writer.append([_row("a", "accuracy", 0.5), _row("a", "latency_p50_ms", 1.25, 8, ci_low=1.0, ci_high=1.5, n=30)],
                  [{"model": "a", "seed": 0, "device": "cpu", "dtype": "float32", "batch_size": 8,
                    "iteration": i, "latency_ms": 1.0 + i} for i in range(3)])
    writer.append([_row("b", "latency_p50_ms", float("nan"), 8, status="error", error="boom")])
    writer.finish("complete")

    df = load_results(writer.run_dir)
    assert list(df.columns) == list(COLUMNS)
    assert df["model"].tolist() == ["a", "a", "b"]
    assert df["run_id"].unique().tolist() == [writer.run_id]
    assert pd.isna(df.loc[0, "batch_size"]) and df.loc[1, "batch_size"] == 8
    assert df.loc[1, ["value", "ci_low", "ci_high", "n"]].tolist() == [1.25, 1.0, 1.5, 30]
    assert df["status"].tolist() == ["ok", "ok", "error"] and df.loc[2, "error"] == "boom"
    assert load_results(writer.run_dir, samples=True)["latency_ms"].tolist() == [1.0, 2.0, 3.0]

    manifest = json.loads((writer.run_dir / MANIFEST).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["status"] == "complete"
    assert manifest["finished_at"] is not None
    assert not list(writer.run_dir.glob(".*tmp")), "no temporary files left behind"
    assert {p.name for p in writer.run_dir.iterdir()} == {MANIFEST, MEASUREMENTS, SAMPLES, PREDICTIONS}


def test_load_results_spans_runs_and_parent_folders(tmp_path: Path):
    for model in ("a", "b"):
        RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS}).append([_row(model, "accuracy", 1.0)])
    RunWriter.create(tmp_path, "other", {**MANIFEST_KEYS}).append([_row("c", "accuracy", 1.0)])
    assert sorted(load_results(tmp_path)["model"]) == ["a", "b", "c"]
    assert sorted(load_results(tmp_path / "s")["model"]) == ["a", "b"]
    assert load_results(tmp_path / "s", tmp_path / "other")["run_id"].nunique() == 3


def test_run_ids_are_unique_and_never_reused(tmp_path: Path):
    dirs = {RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS}).run_dir for _ in range(20)}
    assert len(dirs) == 20


def test_missing_or_future_results_are_one_line_errors(tmp_path: Path):
    with pytest.raises(HarnessError, match="no such run directory"):
        load_results(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="not a run directory .no manifest.json., and none is below it"):
        load_results(tmp_path / "empty")
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    writer.manifest.schema_version = SCHEMA_VERSION + 1
    writer.write_manifest()
    with pytest.raises(HarnessError, match="schema_version"):
        load_results(writer.run_dir)


def test_a_table_without_a_column_of_its_schema_is_refused_naming_it(tmp_path: Path):
    """A column the run's schema version wrote is part of the file: without it the file is not what the
    harness wrote (older schemas' missing columns are migrated, below)."""
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    writer.append([_row("a", "accuracy", 0.5)])
    path = writer.run_dir / MEASUREMENTS
    pd.read_parquet(path).drop(columns=["n"]).to_parquet(path)
    with pytest.raises(HarnessError, match="damaged: .* bytes, but the manifest recorded"):
        load_results(writer.run_dir)
    writer.manifest.files = {}  # as a run without digests: the columns are checked all the same
    writer.write_manifest()
    with pytest.raises(HarnessError) as info:
        load_results(writer.run_dir)
    assert str(info.value) == f"{path}: not a results table of schema {SCHEMA_VERSION}: no column n"


def test_ctrl_c_during_a_write_waits_for_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A SIGINT raised while the rows are being written is delivered after the write, not in its middle."""
    import os
    import signal

    import harness.store as store

    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    real = store.atomic_write_bytes
    seen = []

    def write_then_interrupt(path: Path, data: bytes) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # held until the block ends
        seen.append(path.name)
        real(path, data)

    monkeypatch.setattr(store, "atomic_write_bytes", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        writer.append([_row("a", "accuracy", 0.5)], [{"model": "a", "seed": 0, "device": "cpu", "dtype": "float32",
                                                      "batch_size": 1, "iteration": 0, "latency_ms": 1.0}])
    assert seen == [MANIFEST, MEASUREMENTS, SAMPLES, PREDICTIONS, MANIFEST], "every write finished first"
    assert load_results(writer.run_dir)["model"].tolist() == ["a"]


def test_a_run_killed_between_a_table_and_its_manifest_reads_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SIGKILL after a table is replaced but before the manifest records it: the manifest's pending digest
    vouches for the new file; killed before the table is replaced, the old one still matches."""
    import harness.store as store

    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    writer.append([_row("a", "accuracy", 0.5)])
    real, writes = store.atomic_write_bytes, []

    def killed_after(count: int):
        def write(path: Path, data: bytes) -> None:
            if len(writes) == count:
                raise SystemExit("killed")  # nothing after this write reaches the disk
            writes.append(path.name)
            real(path, data)
        return write

    for count in (1, 2):  # killed after the pending manifest; after the new measurements table
        writes.clear()
        monkeypatch.setattr(store, "atomic_write_bytes", killed_after(count))
        with pytest.raises(SystemExit):
            writer.append([_row("b", "accuracy", 0.7)])
        monkeypatch.setattr(store, "atomic_write_bytes", real)
        assert verify_run(writer.run_dir).problems == [], count
        models = set(load_results(writer.run_dir)["model"])
        assert models == ({"a"} if count == 1 else {"a", "b"}), count
        writer = RunWriter.open(writer.run_dir)  # as a resumed run does
    (writer.run_dir / MEASUREMENTS).write_bytes(b"not what anyone wrote")
    assert verify_run(writer.run_dir).problems, "another file is still refused"


def _older_run(tmp_path: Path, version: int, added_since: tuple[str, ...]) -> RunWriter:
    """A one-row run written as schema ``version`` wrote it: without the columns added since."""
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS})
    writer.append([_row("a", "latency_p50_ms", 1.5)], [{"model": "a", "seed": 0, "device": "cpu", "dtype": "float32",
                                                        "batch_size": 1, "iteration": 0, "latency_ms": 1.5}])
    for name in (MEASUREMENTS, SAMPLES):
        path = writer.run_dir / name
        df = pd.read_parquet(path)
        df.drop(columns=[c for c in added_since if c in df.columns]).to_parquet(path)
    writer.manifest.schema_version = version
    writer.manifest.files = {}  # digests came with schema 3's integrity records
    writer.write_manifest()
    return writer


def test_schema_1_results_read_as_eager_without_seq_len(tmp_path: Path):
    """A schema-1 run (no backend, no seq_len columns) reads with backend 'eager' and a null seq_len."""
    writer = _older_run(tmp_path, 1, ADDED_SINCE_1)
    for df in (load_results(writer.run_dir), load_results(writer.run_dir, samples=True)):
        assert df["backend"].tolist() == ["eager"] and df["seq_len"].isna().all()
        assert df["scenario"].tolist() == ["single_stream"]
    assert list(load_results(writer.run_dir).columns) == list(COLUMNS)


def test_schema_1_rows_get_threads_from_the_manifest_on_read(tmp_path: Path):
    """Schema 1 had no threads column: timed rows read the run's hardware.threads, model-level rows stay null;
    the files are not rewritten."""
    writer = RunWriter.create(tmp_path, "s", {**MANIFEST_KEYS, "hardware": {"threads": 3}})
    writer.append([_row("a", "accuracy", 0.5), _row("a", "latency_p50_ms", 1.0, 8)],
                  [{"model": "a", "seed": 0, "device": "cpu", "dtype": "float32", "batch_size": 8,
                    "iteration": 0, "latency_ms": 1.0}])
    for name in (MEASUREMENTS, SAMPLES):
        pd.read_parquet(writer.run_dir / name).drop(columns=["threads", "backend", "seq_len"]).to_parquet(
            writer.run_dir / name)
    writer.manifest.schema_version = 1
    writer.manifest.files = {}
    writer.write_manifest()
    before = (writer.run_dir / MEASUREMENTS).read_bytes()
    df = load_results(writer.run_dir)
    assert list(df.columns) == list(COLUMNS) and pd.isna(df.loc[0, "threads"]) and df.loc[1, "threads"] == 3
    assert load_results(writer.run_dir, samples=True)["threads"].tolist() == [3]
    assert (writer.run_dir / MEASUREMENTS).read_bytes() == before
    assert RunWriter.open(writer.run_dir).rows()["threads"].tolist()[1] == 3


ADDED_SINCE_1 = ("threads", "backend", "seq_len", "scenario", "target_qps", "round", "slot", "noise_sigma")


def test_each_schema_appends_its_columns():
    """3: scenario and target_qps, the samples' round and slot; 4: noise_sigma (and predictions.parquet)."""
    assert SCHEMA_VERSION == 4
    assert list(COLUMNS)[-6:] == ["threads", "backend", "seq_len", "scenario", "target_qps", "noise_sigma"]
    assert list(SAMPLE_COLUMNS)[-6:] == ["threads", "backend", "seq_len", "round", "slot", "scenario"]


def test_a_schema_3_run_reads_with_no_noise_sigma_and_no_predictions(tmp_path: Path):
    writer = _older_run(tmp_path, 3, ("noise_sigma",))
    assert load_results(writer.run_dir)["noise_sigma"].isna().all()
    assert "noise_sigma" not in pd.read_parquet(writer.run_dir / MEASUREMENTS).columns
    (writer.run_dir / PREDICTIONS).unlink()
    writer.manifest.files.pop(PREDICTIONS, None)
    writer.write_manifest()
    assert load_predictions(writer.run_dir).empty and list(load_predictions(writer.run_dir)) == list(PREDICTION_COLUMNS)


def test_schema_2_results_read_as_single_stream_without_rounds(tmp_path: Path):
    """A schema-2 run (no scenario, target_qps, round or slot) reads as closed-loop timing, its samples in no
    recorded round; the files are not rewritten."""
    writer = _older_run(tmp_path, 2, ("scenario", "target_qps", "round", "slot"))
    rows, samples = load_results(writer.run_dir), load_results(writer.run_dir, samples=True)
    assert rows["scenario"].tolist() == samples["scenario"].tolist() == ["single_stream"]
    assert rows["target_qps"].isna().all() and samples["round"].isna().all() and samples["slot"].isna().all()
    assert "scenario" not in pd.read_parquet(writer.run_dir / MEASUREMENTS).columns


def test_the_schema_matches_its_golden_file():
    """A change to the result schema is deliberate: bump SCHEMA_VERSION, migrate old runs, update the golden file."""
    golden = json.loads((Path(__file__).parent.parent / "fixtures" / "schema_v4.json").read_text())
    assert golden["schema_version"] == SCHEMA_VERSION
    assert list(golden["measurements"].items()) == list(COLUMNS.items())  # names, dtypes and their order
    assert list(golden["samples"].items()) == list(SAMPLE_COLUMNS.items())
    assert list(golden["predictions"].items()) == list(PREDICTION_COLUMNS.items())


def test_a_real_schema_1_run_reads_as_the_current_schema():
    """tests/fixtures/runs/tiny: a run of tests/fixtures/tiny.yaml written by the harness before schema 2."""
    run_dir = next((Path(__file__).parent.parent / "fixtures" / "runs" / "tiny").iterdir())
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["schema_version"] == 1 and "threads" not in pd.read_parquet(run_dir / MEASUREMENTS).columns
    df = load_results(run_dir)
    assert list(df.columns) == list(COLUMNS) and len(df) == 82
    timed = df["batch_size"].notna()
    assert set(df.loc[timed, "threads"]) == {manifest["hardware"]["threads"]} and df.loc[~timed, "threads"].isna().all()
    samples = load_results(run_dir, samples=True)
    assert len(samples) > 0 and set(samples["threads"]) == {manifest["hardware"]["threads"]}
