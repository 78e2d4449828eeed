"""What a run did not measure, and why: failures, skips, and metrics that do not apply where it ran.

A metric declared ``needs_cuda`` (:mod:`harness.metrics`: GPU utilisation,
power, energy, GPU memory) is skipped on every other device. On a CPU-only
host that is not a gap in the run but a fact of the machine, so a report
counts those rows apart: "60 metrics do not apply on this host (it has no
GPU)", not "60 skipped". Every other skip keeps its own reason, and errors
come first.

>>> from harness.manifest import Hardware
>>> where(Hardware(gpu=None)), where(Hardware(gpu="NVIDIA H200", gpu_count=1))
('on this host (it has no GPU)', 'to the cells measured off cuda')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.manifest import Hardware, Manifest
from harness.metrics import METRICS
from harness.report import tables
from harness.report.display import as_table
from harness.report.formatting import MISSING
from harness.report.model import Section
from harness.report.variants import one_per_model
from harness.rows import Status

#: the status a failures table shows for a skipped row of a metric that needs a device the cell did not use
NOT_APPLICABLE = "does not apply"
_ORDER = {Status.ERROR: 0, Status.SKIPPED: 1, NOT_APPLICABLE: 2}


def does_not_apply(metric_name: Any, device: Any, status: Any) -> bool:
    """Whether a row is a skip of a metric that needs cuda, in a cell on another device."""
    name = str(metric_name)
    return (status == Status.SKIPPED and name in METRICS.names() and METRICS.get(name).needs_cuda
            and not str(device).startswith("cuda"))


def where(hardware: Hardware) -> str:
    """Where the metrics that need cuda do not apply: the whole host, or only the cells that were not on cuda."""
    return "to the cells measured off cuda" if hardware.gpu or hardware.gpu_count else "on this host (it has no GPU)"


def _status(row: Mapping[Any, Any]) -> str:
    return NOT_APPLICABLE if does_not_apply(row["metric"], row["device"], row["status"]) else str(row["status"])


def failures_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """Every row whose status is not ok, one line per (status, device, dtype, reason): errors first, then skips,
    then metrics that do not apply on the cell's device; None when every row is ok."""
    bad = df[df["status"] != Status.OK]
    if bad.empty:
        return None
    every_model = list(pd.unique(df["model"]))
    groups: dict[tuple[str, ...], tuple[list[str], ...]] = {}
    for row in bad.to_dict("records"):
        key = (_status(row), *(str(row[c]) for c in ("device", "dtype")), tables.error_text(row["error"]))
        models, metrics, sizes, seeds = groups.setdefault(key, ([], [], [], []))
        size = "n/a" if pd.isna(row["batch_size"]) else str(int(row["batch_size"]))
        for found, value in ((models, str(row["model"])), (metrics, str(row["metric"])), (sizes, size),
                             (seeds, str(row["seed"]))):
            if value not in found:
                found.append(value)
    rows = [[status, "all models" if models == every_model else ", ".join(models), ", ".join(metrics), device,
             dtype, ", ".join(sizes), ", ".join(seeds), error or MISSING]
            for (status, device, dtype, error), (models, metrics, sizes, seeds)
            in sorted(groups.items(), key=lambda item: _ORDER.get(item[0][0], 1))]
    columns = ["status", "models", "metrics", "device", "dtype", "batch sizes", "seeds", "reason"]
    return pd.DataFrame(rows, columns=columns)


def _once(df: pd.DataFrame) -> pd.DataFrame:
    """Each stored row once: model-level rows that :func:`~harness.report.variants.split_variants` copied to
    every variant of a model are counted for the model alone."""
    return pd.concat([one_per_model(df), df[df["batch_size"].notna()]], ignore_index=True)


def _not_applicable(rows: pd.DataFrame) -> pd.Series:
    """Which of ``rows`` are skips of a metric that needs cuda, in a cell on another device."""
    return pd.Series([does_not_apply(*r) for r in zip(rows["metric"], rows["device"], rows["status"], strict=True)],
                     index=rows.index, dtype=bool)


def counts(df: pd.DataFrame, manifest: Manifest) -> str:
    """One sentence counting the run's measurements by what became of them:
    '249 measurements: 171 ok, 60 metrics do not apply on this host (it has no GPU), 18 skipped.'"""
    rows = _once(df)
    na = int(_not_applicable(rows).sum())
    status = rows["status"].value_counts()
    ok, skipped, failed = (int(status.get(s, 0)) for s in (Status.OK, Status.SKIPPED, Status.ERROR))
    parts = [f"{ok} ok", f"{na} metrics do not apply {where(manifest.hardware)}" if na else "",
             f"{skipped - na} skipped" if skipped - na else "", f"{failed} failed" if failed else ""]
    return f"{len(rows)} measurements: {', '.join(p for p in parts if p)}."


def section(df: pd.DataFrame, manifest: Manifest) -> Section | None:
    """The failures section, with its table; None when every row is ok."""
    table = failures_table(df)
    if table is None:
        return None
    rows = _once(df)
    found = rows[_not_applicable(rows)]
    intro = (f"{len(found)} metrics do not apply {where(manifest.hardware)}: {', '.join(sorted(set(found['metric'])))} "
             "need a cuda device.") if len(found) else ""
    return Section("Failures and skips", (intro,) if intro else (), (as_table(table),))
