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

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.integrity import check_file, digest_of
from harness.manifest import SCHEMA_VERSION, Manifest, RunStatus, parse
from harness.rows import (
    COLUMNS,
    DEFAULTS,
    PREDICTION_COLUMNS,
    SAMPLE_COLUMNS,
    SINGLE_STREAM,
    Kind,
    Prediction,
    Row,
    Sample,
    Status,
    stored_since,
)
from harness.signals import deferred

MANIFEST = "manifest.json"
MEASUREMENTS = "measurements.parquet"
SAMPLES = "samples.parquet"
#: one row per model, seed and test example (runs written before it have none)
PREDICTIONS = "predictions.parquet"
#: each table, its row type and its columns
TABLES: dict[str, tuple[Kind, dict[str, str]]] = {MEASUREMENTS: (Row, COLUMNS), SAMPLES: (Sample, SAMPLE_COLUMNS),
                                                 PREDICTIONS: (Prediction, PREDICTION_COLUMNS)}


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


Record = Row | Sample | Prediction | Mapping[str, Any]


def frame(rows: Iterable[Record] | pd.DataFrame, columns: Mapping[str, str] = COLUMNS) -> pd.DataFrame:
    """Rows (:class:`Row`, :class:`Sample`, or dicts read back from a table) as a DataFrame with exactly
    the schema's columns and dtypes."""
    if isinstance(rows, pd.DataFrame):  # already a table (a model's predictions): its columns, in order
        df = rows.reindex(columns=list(columns))
    else:
        records = [r.record() if isinstance(r, (Row, Sample, Prediction)) else r for r in rows]
        df = pd.DataFrame(records, columns=list(columns))
    for name, default in DEFAULTS.items():
        if name in columns:
            df[name] = df[name].astype("object").fillna(default)
    return df.astype(dict(columns))


def check_table(run_dir: Path, name: str, manifest: Manifest) -> None:
    """``run_dir/name`` holds what the manifest recorded (or the replacement a killed run was writing)."""
    check_file(run_dir / name, manifest.files.get(name), manifest.pending.get(name))


class RunWriter:
    """Writes one run directory as the run goes: rows are saved as each model finishes."""

    def __init__(self, run_dir: Path, manifest: Manifest):
        self.run_dir, self.manifest = run_dir, manifest
        #: each table's parts as written so far, by file name (:data:`TABLES`)
        self._tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}

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
        try:
            for name, kept in writer._tables.items():
                if has_table(run_dir, name, manifest):
                    kept.append(read_table(run_dir, name, manifest))
        except HarnessError as exc:
            raise HarnessError(f"{exc}; a damaged run is not resumed: check it with harness verify {run_dir}, then "
                               f"run the suite again (or merge the shards that are whole)") from None
        return writer

    def _table(self, name: str) -> pd.DataFrame:
        parts = self._tables[name]
        return pd.concat(parts, ignore_index=True) if parts else frame([], TABLES[name][1])

    def rows(self) -> pd.DataFrame:
        return self._table(MEASUREMENTS)

    def predictions(self) -> pd.DataFrame:
        return self._table(PREDICTIONS)

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

    def append(self, rows: Iterable[Record], samples: Iterable[Record] | pd.DataFrame = (),
               predictions: Iterable[Record] | pd.DataFrame = ()) -> None:
        """Add rows (and raw samples, and per-example predictions) and rewrite the files atomically; Ctrl-C
        waits for the write. A table that gains nothing is not rewritten (but written once, empty, so that
        every run has every table)."""
        written: dict[str, bytes] = {}
        for name, records in zip(TABLES, (rows, samples, predictions), strict=True):
            df = frame(records, TABLES[name][1])
            if len(df) or not (self.run_dir / name).exists():
                df["run_id"] = pd.Series(self.run_id, index=df.index, dtype="string")
                self._tables[name].append(df)
                written[name] = self._table(name).to_parquet(index=False)
        if not written:
            return
        # the new digests first (pending), then the tables, then the digests as the files': a run killed at
        # any point holds, for each table, the file the manifest records or the one it was replacing it with
        with deferred():
            self.manifest.pending = {name: digest_of(data) for name, data in written.items()}
            self.write_manifest()
            for name, data in written.items():
                atomic_write_bytes(self.run_dir / name, data)
            self.manifest.files.update(self.manifest.pending)
            self.manifest.pending = {}
            self.write_manifest()

    def finish(self, status: RunStatus, **extra: Any) -> None:
        self.manifest = parse({**self.manifest.model_dump(), **extra, "status": status, "finished_at": now_iso()},
                              self.run_dir / MANIFEST)
        with deferred():
            self.write_manifest()


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a manifest, readable or not (a damaged one is for the reader to name)."""
    return (path / MANIFEST).is_file() or (path / MANIFEST).is_symlink()


def run_dirs(path: Path) -> list[Path]:
    """``path`` itself when it is a run directory, else every run directory below it."""
    if is_run_dir(path):
        return [path]
    if not path.exists():
        raise HarnessError(f"{path}: no such run directory")
    found = sorted(p.parent for p in path.rglob(MANIFEST))
    if not found:
        raise HarnessError(f"{path}: not a run directory (no {MANIFEST}), and none is below it")
    return found


def read_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise HarnessError(f"{run_dir}: not a run directory (no {MANIFEST})")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not a manifest: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise HarnessError(f"{path}: not a manifest: not valid JSON{where}") from None
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


def _fits(column: pd.Series, dtype: str) -> bool:
    """Whether a stored column can be read as the schema's ``dtype`` without changing what it says."""
    values = column.dropna()
    if values.empty:
        return True
    if dtype == "string":
        return pd.api.types.is_string_dtype(column) and all(isinstance(v, str) for v in values)
    if dtype == "boolean":
        return pd.api.types.is_bool_dtype(column) or all(isinstance(v, (bool, np.bool_)) for v in values)
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return False
    if dtype == "Int64":
        return pd.api.types.is_integer_dtype(column) or bool((values == values.round()).all())
    return True


def has_table(run_dir: Path, name: str, manifest: Manifest) -> bool:
    """Whether the run has table ``name``: the file is there, or the manifest says it was written."""
    return (run_dir / name).is_file() or name in manifest.files


def read_table(run_dir: Path, name: str, manifest: Manifest) -> pd.DataFrame:
    """Table ``name`` (:data:`TABLES`) of a run as the current schema has it (old runs migrated on read, never
    rewriting files); a column added since reads as null in older runs unless a migration step says what it
    was. A file that is not what the manifest recorded, not parquet, or not a table of this schema is one line
    naming the file."""
    kind, columns = TABLES[name]
    path = run_dir / name
    if not path.is_file():
        if not path.exists() and not path.is_symlink():
            raise HarnessError(f"{path}: missing: the manifest records it but it is not there")
        try:  # a directory, a dangling or looping link, a device: say what the system says
            path.open("rb").close()
            reason = "not a regular file"
        except OSError as exc:
            reason = exc.strerror or str(exc)
        raise HarnessError(f"{path}: cannot read: {reason}")
    check_table(run_dir, name, manifest)
    try:
        return _as_schema(path, pd.read_parquet(path), manifest, kind, columns)
    except HarnessError:
        raise
    except Exception as exc:  # pyarrow's errors for a file cut short, random bytes, text that is not UTF-8...
        raise HarnessError(f"{path}: not a readable parquet table: {' '.join(str(exc).split())[:200]}") from None


def _as_schema(path: Path, df: pd.DataFrame, manifest: Manifest, kind: Kind, columns: Mapping[str, str],
               ) -> pd.DataFrame:
    missing = [c for c in stored_since(kind, manifest.schema_version) if c not in df.columns]
    if missing:
        raise HarnessError(f"{path}: not a results table of schema {manifest.schema_version}: no column "
                           f"{', '.join(missing)}")
    if manifest.schema_version < 2:
        df = _v1_to_v2(df, manifest)
    if manifest.schema_version < 3:
        df = _v2_to_v3(df)
    for name, dtype in columns.items():
        if name not in df.columns:
            df[name] = pd.Series(None, index=df.index, dtype=dtype)
        elif not _fits(df[name], dtype):
            raise HarnessError(f"{path}: column {name} holds {df[name].dtype} values, not {dtype}")
    return df[list(columns)].astype(dict(columns))


def _load(paths: Iterable[str | Path], name: str) -> pd.DataFrame:
    frames = []
    for path in paths:
        for run_dir in run_dirs(Path(path)):
            manifest = read_manifest(run_dir)
            for other in manifest.files:  # a run is read whole or not at all
                if other != name:
                    check_table(run_dir, other, manifest)
            if has_table(run_dir, name, manifest):
                frames.append(read_table(run_dir, name, manifest))
    if not frames:
        return frame([], TABLES[name][1])
    return pd.concat(frames, ignore_index=True)


def load_results(*paths: str | Path, samples: bool = False) -> pd.DataFrame:
    """One DataFrame of the rows (or raw latency samples) of every run under ``paths``.

    A path is a run directory or any folder above run directories.
    """
    return _load(paths, SAMPLES if samples else MEASUREMENTS)


def load_predictions(*paths: str | Path) -> pd.DataFrame:
    """One DataFrame of the per-example predictions of every run under ``paths`` (none for runs written
    before predictions were kept)."""
    return _load(paths, PREDICTIONS)
