"""The model cache: a trained model is stored under a hash of everything that made it.

``key`` covers the dataset spec, the architecture and its parameters, the
method and its parameters, the seed and, for a distilled student, the
teacher's own key; so a second run of an unchanged suite trains nothing,
and any change retrains exactly what it affects. Entries hold a safetensors
file and ``meta.json`` with its sha256; a corrupt entry is reported and rebuilt.
Each entry is read and written under a file lock, so concurrent runs that
share a cache never see half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch import nn

from harness.store import atomic_write_bytes

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "harness"


def cache_key(**parts: Any) -> str:
    text = json.dumps({"cache_format": CACHE_FORMAT, "torch": torch.__version__.split("+")[0], **parts},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's content (a checkpoint's identity in cache keys)."""
    return _sha256(path)


def content_digest(path: Path) -> str:
    """sha256 of a data file's content, or of a folder's: each file under it, in sorted order, by its relative
    path and its content's sha256. A folder costs one read of every byte under it (once per run)."""
    if not path.is_dir():
        return _sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_sha256(file)}\n".encode())
    return digest.hexdigest()


class ModelCache:
    def __init__(self, root: Path):
        self.root = root

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _lock(self, key: str) -> FileLock:
        entry = self._entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(entry) + ".lock")

    def load(self, key: str, model: nn.Module) -> dict[str, Any] | None:
        """Fill ``model`` with the cached weights and return the entry's meta, or None on a miss."""
        with self._lock(key):
            return self._load(key, model)

    def _load(self, key: str, model: nn.Module) -> dict[str, Any] | None:
        entry = self._entry(key)
        weights, meta_file = entry / "model.safetensors", entry / "meta.json"
        if not meta_file.is_file():
            return None
        try:
            meta = json.loads(meta_file.read_text())
            if _sha256(weights) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            model.load_state_dict(load_file(weights))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            print(f"harness: cache entry {entry} is corrupt ({exc}); rebuilding it", file=sys.stderr)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return dict(meta)

    def save(self, key: str, model: nn.Module, meta: dict[str, Any]) -> None:
        entry = self._entry(key)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        with self._lock(key):
            entry.mkdir(parents=True, exist_ok=True)
            weights = entry / "model.safetensors"
            tmp = entry / f".model.safetensors.{os.getpid()}.tmp"
            save_file(state, tmp)
            os.replace(tmp, weights)
            meta_bytes = json.dumps({**meta, "sha256": _sha256(weights)}, indent=2).encode()
            atomic_write_bytes(entry / "meta.json", meta_bytes)
