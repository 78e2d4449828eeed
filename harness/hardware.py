"""The machine a run ran on, so that results from different machines can be told apart."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil
import torch

import harness
from harness.measure.gpu import nvml_driver_info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(directory: Path | None = None) -> str | None:
    """The commit of the harness checkout (None for an installed copy outside git)."""
    where = directory or Path(harness.__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def machine_id() -> str:
    """A stable id for this machine: a hash, so the raw id is never stored."""
    try:
        raw = Path("/etc/machine-id").read_text().strip()
    except OSError:
        raw = platform.node()
    return hashlib.sha256(f"{raw}|{cpu_model()}".encode()).hexdigest()[:16]


def fingerprint(threads: int | list[int] | None = None) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cuda": torch.version.cuda if cuda else None,
        "driver": (nvml_driver_info() or {}).get("driver") if cuda else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "machine_id": machine_id(),
    }
