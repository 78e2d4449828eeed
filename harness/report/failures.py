"""What a run did not measure, and why: failures, skips, and metrics that do not apply where it ran.

Some skips are not gaps in a run but facts of where and what it ran, declared
with each metric (:mod:`harness.metrics`):

- a metric that needs cuda (GPU utilisation, power, energy, GPU memory) on a
  cell off cuda: on a CPU-only host, every cell;
- the compiler's cost (``compile_seconds``) of eager PyTorch, which compiles nothing;
- the quality metrics of the other task (embedding metrics of a classification dataset);
- the teacher's tests against a baseline (it is every baseline's reference);
- accuracy under input noise in a suite that asked for no noise levels (``measure.noise_sigmas``).

A report counts those apart: "78 metrics do not apply here (60 GPU metrics:
this host has no GPU; ...)", not "78 skipped", and names them in one line; its
table lists only what a user can act on: errors first, then skips with a
reason of their own.

>>> from harness.manifest import Hardware
>>> why_not_applicable("gpu_util_pct", "cpu", "eager", "skipped", Hardware(gpu=None))
'GPU metrics: this host has no GPU'
>>> why_not_applicable("compile_seconds", "cpu", "onnx", "skipped", Hardware(gpu=None))
''
"""

from __future__ import annotations

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

#: errors first in the failures table, then skips
_ORDER: dict[str, int] = {Status.ERROR: 0, Status.SKIPPED: 1}
#: accuracy_under_noise of a suite that set no measure.noise_sigmas: the key its reason names
NOISE, NOISE_NOT_ASKED = "accuracy_under_noise", "measure.noise_sigmas"


def why_not_applicable(metric_name: Any, device: Any, backend: Any, status: Any, hardware: Hardware,
                       role: Any = "student", error: Any = "") -> str:
    """Why a skipped row does not apply where the run measured it (its kind, for counting), or "" when the
    skip is a gap with a reason of its own."""
    name = str(metric_name)
    if status != Status.SKIPPED or name not in METRICS.names():
        return ""
    declared = METRICS.get(name)
    if name == NOISE and NOISE_NOT_ASKED in tables.error_text(error):  # the measurer's reason names the key
        return "accuracy under noise: the suite asked for no noise levels"
    if declared.vs_baseline:
        return "tests against a baseline: the teacher is the reference" if role == "teacher" else ""
    if declared.needs_cuda and not str(device).startswith("cuda"):
        return "GPU metrics: " + ("cells off cuda" if hardware.gpu or hardware.gpu_count else "this host has no GPU")
    if declared.needs_compiler and backend == "eager":
        return "compile times: eager PyTorch compiles nothing"
    if declared.task is not None:
        return f"{declared.task} metrics: not this dataset's task"
    return ""


def _reasons(rows: pd.DataFrame, hardware: Hardware) -> pd.Series:
    """For each row, why it does not apply ("" for the rest)."""
    backends = rows["backend"] if "backend" in rows.columns else pd.Series("eager", index=rows.index)
    roles = rows["role"] if "role" in rows.columns else pd.Series("student", index=rows.index)
    columns = zip(rows["metric"], rows["device"], backends, rows["status"], roles, rows["error"], strict=True)
    return pd.Series([why_not_applicable(name, device, backend, status, hardware, role, error)
                      for name, device, backend, status, role, error in columns], index=rows.index, dtype=object)


def failures_table(df: pd.DataFrame, hardware: Hardware | None = None) -> pd.DataFrame | None:
    """Every row whose status is not ok and that a user can act on (not a metric that does not apply where the
    run ran, :func:`why_not_applicable`), one line per (status, device, dtype, reason): errors first, then skips;
    None when no row is left."""
    bad = df[df["status"] != Status.OK]
    bad = bad[_reasons(bad, hardware or Hardware()) == ""]
    if bad.empty:
        return None
    every_model = list(pd.unique(df["model"]))
    groups: dict[tuple[str, ...], tuple[list[str], ...]] = {}
    for row in bad.to_dict("records"):
        key = (str(row["status"]), *(str(row[c]) for c in ("device", "dtype")), tables.error_text(row["error"]))
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


def _summary(reasons: pd.Series) -> str:
    """'78 metrics do not apply here (60 GPU metrics: this host has no GPU; 18 ...)', or "" for none."""
    found = reasons[reasons != ""].value_counts()
    if found.empty:
        return ""
    parts = "; ".join(f"{int(n)} {reason}" for reason, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{int(found.sum())} metrics do not apply here ({parts})"


def counts(df: pd.DataFrame, manifest: Manifest) -> str:
    """One sentence counting the run's measurements by what became of them: '249 measurements: 171 ok,
    78 metrics do not apply here (60 GPU metrics: this host has no GPU; ...).'"""
    rows = _once(df)
    reasons = _reasons(rows, manifest.hardware)
    na = int((reasons != "").sum())
    status = rows["status"].value_counts()
    ok, skipped, failed = (int(status.get(s, 0)) for s in (Status.OK, Status.SKIPPED, Status.ERROR))
    parts = [f"{ok} ok", _summary(reasons), f"{skipped - na} skipped" if skipped - na else "",
             f"{failed} failed" if failed else ""]
    return f"{len(rows)} measurements: {', '.join(p for p in parts if p)}."


def section(df: pd.DataFrame, manifest: Manifest) -> Section | None:
    """The failures section: one line for the metrics that do not apply here, and a table of the errors and of
    the skips with a reason of their own (the ones a user can act on); None when every row is ok."""
    table = failures_table(df, manifest.hardware)
    rows = _once(df)
    reasons = _reasons(rows, manifest.hardware)
    summary = _summary(reasons)
    if table is None and not summary:
        return None
    intro = f"{summary}: {', '.join(sorted(set(rows.loc[reasons != '', 'metric'])))}." if summary else ""
    return Section("Failures and skips", (intro,) if intro else (), (as_table(table),) if table is not None else ())
