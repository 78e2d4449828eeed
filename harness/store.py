"""Run directories and the tidy results table.

``results/<suite>/<run_id>/`` holds ``manifest.json`` (what ran, where, when),
``measurements.parquet`` (one row per model, device, dtype, batch size, seed
and metric) and ``samples.parquet`` (every raw latency sample). Files are
replaced atomically (write to a temporary file, then rename), so a reader
never sees half a file.

>>> from harness import load_results
>>> df = load_results("results/quick")                 # doctest: +SKIP
>>> df.pivot_table(index="model", columns="metric", values="value")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.manifest import SCHEMA_VERSION, Manifest, RunStatus, parse
from harness.rows import COLUMNS, DEFAULTS, SAMPLE_COLUMNS, SINGLE_STREAM, Row, Sample, Status
from harness.signals import deferred

MANIFEST = "manifest.json"
MEASUREMENTS = "measurements.parquet"
SAMPLES = "samples.parquet"
def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable by start time and unique across concurrent runs: ``20261127T233500Z-3f9a1c``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Record = Row | Sample | Mapping[str, Any]


def frame(rows: Iterable[Record], columns: Mapping[str, str] = COLUMNS) -> pd.DataFrame:
    """Rows (:class:`Row`, :class:`Sample`, or dicts read back from a table) as a DataFrame with exactly
    the schema's columns and dtypes."""
    records = [r.record() if isinstance(r, (Row, Sample)) else r for r in rows]
    df = pd.DataFrame(records, columns=list(columns))
    for name, default in DEFAULTS.items():
        if name in columns:
            df[name] = df[name].astype("object").fillna(default)
    return df.astype(dict(columns))


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    atomic_write_bytes(path, df.to_parquet(index=False))


class RunWriter:
    """Writes one run directory as the run goes: rows are saved as each model finishes."""

    def __init__(self, run_dir: Path, manifest: Manifest):
        self.run_dir, self.manifest = run_dir, manifest
        self._rows: list[pd.DataFrame] = []
        self._samples: list[pd.DataFrame] = []

    @classmethod
    def create(cls, results_dir: Path, suite_name: str, manifest: dict[str, Any]) -> RunWriter:
        run_id = new_run_id()
        run_dir = results_dir / suite_name / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        full = parse({"schema_version": SCHEMA_VERSION, "run_id": run_id, "started_at": now_iso(),
                      "finished_at": None, "status": "running", "suite_name": suite_name, **manifest},
                     run_dir / MANIFEST)
        writer = cls(run_dir, full)
        writer.write_manifest()
        return writer

    @classmethod
    def open(cls, run_dir: Path) -> RunWriter:
        """An existing run directory, with its rows, to add what is missing (``harness run --resume``)."""
        manifest = read_manifest(run_dir)
        writer = cls(run_dir, manifest)
        for name, columns, kept in ((MEASUREMENTS, COLUMNS, writer._rows), (SAMPLES, SAMPLE_COLUMNS, writer._samples)):
            if (run_dir / name).is_file():
                kept.append(_read_table(run_dir / name, manifest, columns))
        return writer

    def rows(self) -> pd.DataFrame:
        return pd.concat(self._rows, ignore_index=True) if self._rows else frame([])

    def done_models(self) -> set[tuple[str, int]]:
        """(model, seed) pairs whose rows are written; a model's rows are written all at once."""
        rows = self.rows()
        return {(str(m), int(s)) for m, s in zip(rows["model"], rows["seed"], strict=True)}

    def status_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rows()["status"].value_counts().items()}

    def failed_models(self) -> set[tuple[str, int]]:
        rows = self.rows()
        failed = rows[rows["status"] == Status.ERROR]
        return {(str(m), int(s)) for m, s in zip(failed["model"], failed["seed"], strict=True)}

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def write_manifest(self) -> None:
        atomic_write_bytes(self.run_dir / MANIFEST, self.manifest.to_json())

    def append(self, rows: Iterable[Record], samples: Iterable[Record] = ()) -> None:
        """Add rows (and raw samples) and rewrite the files atomically; Ctrl-C waits for the write. A table
        that gains nothing is not rewritten (but written once, empty, so that every run has both files)."""
        new_rows, new_samples = frame(rows), frame(samples, SAMPLE_COLUMNS)
        for df in (new_rows, new_samples):
            df["run_id"] = pd.Series(self.run_id, index=df.index, dtype="string")
        with deferred():
            if len(new_rows) or not (self.run_dir / MEASUREMENTS).exists():
                self._rows.append(new_rows)
                _write_parquet(self.run_dir / MEASUREMENTS, self.rows())
            if len(new_samples) or not (self.run_dir / SAMPLES).exists():
                self._samples.append(new_samples)
                _write_parquet(self.run_dir / SAMPLES, pd.concat(self._samples, ignore_index=True))

    def finish(self, status: RunStatus, **extra: Any) -> None:
        self.manifest = parse({**self.manifest.model_dump(), **extra, "status": status, "finished_at": now_iso()},
                              self.run_dir / MANIFEST)
        with deferred():
            self.write_manifest()


def run_dirs(path: Path) -> list[Path]:
    """``path`` itself when it is a run directory, else every run directory below it."""
    if (path / MANIFEST).is_file():
        return [path]
    if not path.exists():
        raise HarnessError(f"{path}: no such run directory")
    found = sorted(p.parent for p in path.rglob(MANIFEST))
    if not found:
        raise HarnessError(f"{path}: no run directories (no {MANIFEST}) under it")
    return found


def read_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: unreadable manifest: {exc}") from None
    return parse(raw, path)


def _v1_to_v2(df: pd.DataFrame, manifest: Manifest) -> pd.DataFrame:
    """Schema 1 -> 2. Schema 1 had one thread count per run (the manifest's ``hardware.threads``): the timed
    rows get it, model-level rows (no batch size) stay null, as schema 2 writes them. Every schema-1 row was
    measured as eager PyTorch on a fixed-size input: backend ``eager``, no seq_len."""
    df = df.copy()
    if "threads" not in df.columns:
        recorded = manifest.hardware.threads
        threads = recorded if isinstance(recorded, int) else None
        timed = df["batch_size"].notna() if "batch_size" in df.columns else pd.Series(True, index=df.index)
        df["threads"] = pd.array([threads if t else None for t in timed], dtype="Int64")
    df["backend"] = "eager"
    if "seq_len" not in df.columns:
        df["seq_len"] = pd.NA
    return df


def _v2_to_v3(df: pd.DataFrame) -> pd.DataFrame:
    """Schema 2 -> 3. Every schema-2 row was closed-loop timing (scenario ``single_stream``, no target rate);
    its samples were timed in one window per batch size, or interleaved rounds that were not recorded: no round."""
    df = df.copy()
    df["scenario"] = SINGLE_STREAM
    return df


def _read_table(path: Path, manifest: Manifest, columns: Mapping[str, str]) -> pd.DataFrame:
    """A table as the current schema has it (old runs migrated on read, never rewriting files); a column
    added since reads as null in older runs unless a migration step says what it was."""
    df = pd.read_parquet(path)
    if manifest.schema_version < 2:
        df = _v1_to_v2(df, manifest)
    if manifest.schema_version < 3:
        df = _v2_to_v3(df)
    for name, dtype in columns.items():
        if name not in df.columns:
            df[name] = pd.Series(None, index=df.index, dtype=dtype)
    return df[list(columns)].astype(dict(columns))


def load_results(*paths: str | Path, samples: bool = False) -> pd.DataFrame:
    """One DataFrame of the rows (or raw latency samples) of every run under ``paths``.

    A path is a run directory or any folder above run directories.
    """
    frames = []
    columns = SAMPLE_COLUMNS if samples else COLUMNS
    for path in paths:
        for run_dir in run_dirs(Path(path)):
            manifest = read_manifest(run_dir)
            table = run_dir / (SAMPLES if samples else MEASUREMENTS)
            if table.is_file():
                frames.append(_read_table(table, manifest, columns))
    if not frames:
        return frame([], columns)
    return pd.concat(frames, ignore_index=True)
