"""Digests of a run's files: recorded in the manifest as each file is written, checked by every reader.

A results table whose bytes changed since the harness wrote it (a flipped bit,
an interrupted copy, an edit) is refused in one line naming the file, even where
the parquet reader would read it without complaint: parquet has no checksum of
its own, and a flipped byte in a column of floats is still a float.

>>> import hashlib
>>> record = digest_of(b"rows")
>>> record.bytes, record.sha256 == hashlib.sha256(b"rows").hexdigest()
(4, True)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import HarnessError
from harness.manifest import FileRecord

_CHUNK = 1 << 20


def digest_of(data: bytes) -> FileRecord:
    return FileRecord(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def digest_file(path: Path) -> FileRecord:
    """The digest of a file as it is now, read in chunks; unreadable is one line naming it."""
    sha, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return FileRecord(sha256=sha.hexdigest(), bytes=size)


def check_file(path: Path, recorded: FileRecord | None, pending: FileRecord | None = None) -> None:
    """Refuse ``path`` when it no longer holds what the manifest recorded (nothing recorded: nothing to check).
    ``pending``: the file that was being written when the run stopped, which is as good."""
    if recorded is None:
        return
    found = digest_file(path)
    if found == pending:
        return
    if found.bytes != recorded.bytes:
        raise HarnessError(f"{path}: damaged: {found.bytes} bytes, but the manifest recorded {recorded.bytes} "
                           f"(cut short or changed since it was written)")
    if found.sha256 != recorded.sha256:
        raise HarnessError(f"{path}: damaged: its sha256 no longer matches the manifest's (changed since it was "
                           f"written)")
