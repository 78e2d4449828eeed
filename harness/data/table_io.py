"""Reading the ``table`` dataset's file: its header (at ``harness validate``) and its rows (when a run loads it)."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError, one_line
from harness.registry import did_you_mean

#: the suffixes a table dataset reads, and what writes each
EXTENSIONS = {".csv": "DataFrame.to_csv", ".parquet": "DataFrame.to_parquet", ".feather": "DataFrame.to_feather"}


def supported(path: Path) -> Path:
    """``path`` once its suffix is one the table dataset reads and its header can be read (a pydantic validator).

    >>> supported(Path("data.xlsx"))
    Traceback (most recent call last):
    ValueError: unsupported extension '.xlsx' (data.xlsx): a table dataset reads .csv, .parquet or .feather
    """
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        *first, last = EXTENSIONS
        raise ValueError(f"unsupported extension {suffix or '(none)'!r} ({path.name}): a table dataset reads "
                         f"{', '.join(first)} or {last}{did_you_mean(suffix, list(EXTENSIONS))}")
    if path.is_file():
        try:
            columns_of(path)
        except HarnessError as exc:
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    return path


def columns_of(path: Path) -> list[str]:
    """The names of the table's columns, from its header alone; an unreadable file is a HarnessError."""
    stat = path.stat()
    return list(_header(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=16)
def _header(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The header of ``path`` as it was at ``mtime_ns`` and ``size`` (read once per version of the file)."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            names = pd.read_csv(path, nrows=0).columns
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            import pyarrow.ipc

            with pyarrow.ipc.open_file(path) as reader:
                names = reader.schema.names
    except Exception as exc:  # a reader's error, whatever its type: a file it cannot read
        raise HarnessError(f"{path}: cannot read as {suffix}: {one_line(exc)}") from None
    return tuple(str(name) for name in names)


def read_table(path: Path) -> pd.DataFrame:
    """Every row of the table, columns named by text; an unreadable file is one HarnessError line naming it."""
    if path.suffix.lower() not in EXTENSIONS:
        try:
            supported(path)
        except ValueError as exc:
            raise HarnessError(f"{path}: {exc}") from None
    suffix = path.suffix.lower()
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path) if suffix == ".parquet" \
            else pd.read_feather(path)
    except Exception as exc:  # a reader's error, whatever its type: a file it cannot read
        raise HarnessError(f"{path}: cannot read as {path.suffix.lower()}: {one_line(exc)}") from None
    frame.columns = [str(name) for name in frame.columns]
    return frame
