"""Baselines: a finished run kept under a name, to compare later runs against.

``results/baselines/<name>/`` holds a copy of the run's ``manifest.json``
(with its resolved suite and hardware fingerprint), ``measurements.parquet``
and ``samples.parquet``, byte for byte, plus ``baseline.json`` (name, when
it was saved, from which run). It is a run directory in its own right, so
``load_results`` and ``harness report`` read it too. Baselines are meant to
be committed (``.gitignore`` keeps ``results/baselines/``).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.store import MANIFEST, MEASUREMENTS, PREDICTIONS, SAMPLES, is_run_dir, now_iso, read_manifest
from harness.verify import verify_run

DEFAULT_DIR = Path("results/baselines")
INFO = "baseline.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class BaselineInfo:
    name: str
    path: Path
    info: dict[str, Any]
    manifest: Manifest


def _whole(run_dir: Path) -> None:
    """Refuse a damaged run (its first problem, one line): a baseline must hold what the run wrote."""
    verdict = verify_run(run_dir)
    if verdict.problems:
        raise HarnessError(verdict.problems[0])


def save_baseline(run_dir: Path, name: str, directory: Path = DEFAULT_DIR, force: bool = False) -> Path:
    """Copy a finished run to ``directory/name``; refuses an unfinished run, or an existing name without ``force``."""
    if not _NAME.match(name):
        raise HarnessError(f"baseline name {name!r}: use letters, digits and _.+- (at most 64, not starting with one "
                           f"of _.+-)")
    if not is_run_dir(run_dir):
        raise HarnessError(f"{run_dir}: not a run directory (no {MANIFEST})")
    manifest = read_manifest(run_dir)
    if not manifest.finished:
        raise HarnessError(f"{run_dir}: the run is {manifest.status!r}; only a complete run can be a baseline")
    if not (run_dir / MEASUREMENTS).exists() and MEASUREMENTS not in manifest.files:
        raise HarnessError(f"{run_dir}: no {MEASUREMENTS}; only a complete run can be a baseline")
    _whole(run_dir)
    target = directory / name
    if target.exists() and not force:
        raise HarnessError(f"{target}: a baseline named {name!r} exists; pass --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{name}."))
    try:
        for file in (MANIFEST, MEASUREMENTS, SAMPLES, PREDICTIONS):
            if (run_dir / file).is_file():
                shutil.copy2(run_dir / file, staging / file)
        info = {"name": name, "saved_at": now_iso(), "run_id": manifest.run_id, "source": str(run_dir),
                "suite_name": manifest.suite_name, "suite_hash": manifest.suite_hash}
        (staging / INFO).write_text(json.dumps(info, indent=2) + "\n")
        _whole(staging)  # the copy holds what the run wrote
        if target.exists():  # --force: the old one goes only once the new one is complete beside it
            old = directory / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def list_baselines(directory: Path = DEFAULT_DIR) -> tuple[list[BaselineInfo], list[str]]:
    """The whole baselines in ``directory``, and a line for each folder there that is not one (damaged,
    or no manifest): a gate must never read a baseline that is not what its run wrote."""
    if not directory.is_dir():
        return [], []
    found, damaged = [], []
    for path in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")):
        verdict = verify_run(path)
        if verdict.problems:
            damaged.append(verdict.problems[0])
            continue
        try:
            info = json.loads((path / INFO).read_text()) if (path / INFO).is_file() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            damaged.append(f"{path / INFO}: unreadable: {' '.join(str(exc).split())}")
            continue
        found.append(BaselineInfo(path.name, path, info if isinstance(info, dict) else {}, read_manifest(path)))
    return found, damaged


def locate(ref: str, directory: Path = DEFAULT_DIR) -> Path:
    """A run directory or baseline directory given as a path, or the name of a baseline in ``directory``."""
    path = Path(ref)
    if is_run_dir(path) or path.is_dir():  # a folder given by path: its reader says what is wrong with it
        return path
    if _NAME.match(ref) and is_run_dir(directory / ref):
        return directory / ref
    names = ", ".join(b.name for b in list_baselines(directory)[0]) or "none"
    raise HarnessError(f"{ref}: neither a run directory nor a baseline in {directory} (baselines: {names})")
