"""``harness hardware``: one suite on several machines (or thread counts, dtypes), compared cell by cell.

A *machine* here is a hardware fingerprint (CPU, or GPU and driver, for the
cell's device; torch) plus the threads and the dtype the suite asked the cell
for (``measure.dtypes``): two runs on one host with 1 and 2 threads are two
machines. A model whose method fixed its dtype (an int8 quantized student, a
float16 one) is measured as built, in the cell of its own dtype where the
suite lists it and else in the first one (:func:`harness.plan.dtype_plan`):
its int8 is a property of the model, not of the machine, so it is compared
on the machines of its cell. Per model and batch
size of the closed-loop sweep (single_stream cells; the serving scenarios'
rows are left out, :mod:`harness.report.scenarios`) the report gives each
machine's latency p50 (with its 95% interval), throughput, peak memory and
energy (where measured), and two speedups:

- ``speedup_vs_reference``: the reference machine's p50 over this one's
  (above 1 is faster). The two p50s come from different runs or processes,
  never paired, so a slow phase of either machine is part of it.
- ``speedup_vs_teacher``: on this machine, the teacher's p50 over the
  model's from the same paired rounds (the stored metric, with its interval);
  for runs without it (before schema 3), the unpaired ratio of the two p50s
  on this machine, and ``speedup_vs_teacher_paired`` is False.

A second table lists what else differs between the machines' environments,
so a reader knows what the speedup against the reference also contains.

>>> machine_labels([{"cpu": "X", "threads": 1}, {"cpu": "X", "threads": 2}])
['1 thread', '2 threads']
>>> cell_dtype("int8", ["float32"]), cell_dtype("float16", ["float32", "float16"])
('float32', 'float16')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.metrics import metric
from harness.report import formatting, tables
from harness.report.scenarios import single_stream
from harness.report.variants import base_model, split_variants
from harness.rows import Status
from harness.store import load_results, read_manifest, run_dirs

SPEED_METRICS = ("latency_p50_ms", "throughput_sps", "peak_memory_bytes", "energy_j_per_sample", "speedup_vs_teacher")
#: environment fields shown side by side, (label, key of the manifest's hardware or of the cell)
ENVIRONMENT = (("CPU", "cpu"), ("cores", "cores_logical"), ("RAM", "ram_bytes"), ("GPU", "gpu"),
               ("driver", "driver"), ("CUDA", "cuda"), ("torch", "torch"), ("Python", "python"),
               ("platform", "platform"), ("threads", "threads"), ("dtype", "dtype"), ("device", "device"),
               ("harness", "harness_version"), ("commit", "git_commit"))
#: what tells machines apart in their labels, in this order
_LABEL_PARTS = ("cpu", "gpu", "driver", "torch", "device", "threads", "dtype")


def _part(key: str, value: Any) -> str:
    if key == "threads":
        return f"{value} thread{'s' if value != 1 else ''}"
    return str(value)


def machine_labels(machines: Sequence[dict[str, Any]]) -> list[str]:
    """Short labels naming only what differs between ``machines`` (environment dicts); numbered if nothing does."""
    varying = [k for k in _LABEL_PARTS if len({str(m.get(k)) for m in machines}) > 1]
    labels = [" · ".join(_part(k, m.get(k)) for k in varying) for m in machines]
    if not varying or len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}".strip(" ·") for i, label in enumerate(labels)]
    return labels


def cell_dtype(measured: str, requested: Sequence[str]) -> str:
    """The dtype of the cell a row was measured in: its own where the suite asked for it, else the first the suite
    asked for (where :func:`harness.plan.dtype_plan` measures a model whose method fixed its dtype)."""
    return measured if measured in requested or not requested else str(requested[0])


def _requested_dtypes(manifest: Manifest) -> list[str]:
    measure = manifest.suite.get("measure") if isinstance(manifest.suite, dict) else None
    dtypes = measure.get("dtypes") if isinstance(measure, dict) else None
    return [str(d) for d in dtypes] if isinstance(dtypes, list) else []


def find_machine(reference: str, machines: Sequence[str]) -> str:
    """The machine ``reference`` names: its label, or the one label that has every part of it (``1 thread`` for
    ``1 thread · float32`` when no other machine has 1 thread).

    >>> find_machine("1 thread", ["1 thread · float32", "2 threads · float32"])
    '1 thread · float32'
    """
    if reference in machines:
        return reference
    parts = {p.strip() for p in reference.split("·")}
    matches = [m for m in machines if parts <= {p.strip() for p in m.split("·")}]
    if len(matches) == 1:
        return matches[0]
    why = "names several machines" if matches else "not a machine of these runs"
    raise HarnessError(f"--reference {reference!r}: {why} (allowed: {', '.join(machines)})")


def _environment(manifest: Manifest, device: str, threads: Any, dtype: str) -> dict[str, Any]:
    hardware = manifest.hardware
    cuda = device.startswith("cuda")
    return {"cpu": hardware.cpu, "cores_logical": hardware.cores_logical, "ram_bytes": hardware.ram_bytes,
            "gpu": hardware.gpu if cuda else None, "driver": hardware.driver if cuda else None,
            "cuda": hardware.cuda if cuda else None, "torch": hardware.torch, "python": hardware.python,
            "platform": hardware.platform, "threads": None if pd.isna(threads) else int(threads), "dtype": dtype,
            "device": device.split(":")[0], "harness_version": manifest.harness_version,
            "git_commit": manifest.git_commit}


def _machine_key(env: dict[str, Any]) -> tuple[str, ...]:
    """What makes two cells the same machine: the fingerprint and the cell's threads, dtype and device kind."""
    return tuple(str(env[k]) for k in ("cpu", "gpu", "driver", "torch", "device", "threads", "dtype"))


def _left_out(df: pd.DataFrame, run_id: str) -> list[str]:
    """One line per (device, reason) of latency cells that were not measured."""
    absent = df[df["batch_size"].notna() & (df["metric"] == "latency_p50_ms") & (df["status"] != Status.OK)]
    return [f"{device} in run {run_id}: {status}, {tables.error_text(error)}"
            for (device, status, error), _ in absent.groupby(["device", "status", "error"], dropna=False)]


def load_machines(paths: Sequence[Path]) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], list[str]]:
    """The measured (ok) timed rows of every run under ``paths`` with a ``machine`` column, each machine's
    environment, and a line for each kind of cell left out (not measured, and why)."""
    frames, envs, keys, left_out = [], [], [], []
    for path in paths:
        for run_dir in run_dirs(Path(path)):
            # a model timed as several backends or sequence lengths is one entry per variant, never pooled; the
            # closed-loop sweep alone (a server cell's latency is a response time under load)
            manifest, df = read_manifest(run_dir), single_stream(split_variants(load_results(run_dir)))
            left_out += _left_out(df, manifest.run_id)
            timed = df[df["batch_size"].notna() & df["metric"].isin(SPEED_METRICS) & (df["status"] == Status.OK)].copy()
            names, requested = [], _requested_dtypes(manifest)
            for device, threads, dtype in zip(timed["device"], timed["threads"], timed["dtype"], strict=True):
                env = _environment(manifest, str(device), threads, cell_dtype(str(dtype), requested))
                if _machine_key(env) not in keys:
                    keys.append(_machine_key(env))
                    envs.append(env)
                names.append(keys.index(_machine_key(env)))
            timed["machine"] = names
            frames.append(timed)
    if not frames or not keys:
        raise HarnessError(f"no timed rows under {', '.join(map(str, paths))}: nothing to compare")
    suites = sorted({str(s) for f in frames for s in f["suite"].unique()})
    if len(suites) > 1:
        raise HarnessError(f"hardware: the runs are of different suites ({', '.join(suites)}); compare one suite")
    labels = machine_labels(envs)
    rows = pd.concat(frames, ignore_index=True)
    rows["machine"] = [labels[i] for i in rows["machine"]]
    return rows, dict(zip(labels, envs, strict=True)), left_out


def _teacher_of(rows: pd.DataFrame, model: str) -> str | None:
    """The teacher entry a model's unpaired speedup is taken against: the teacher of the same backend and
    sequence length (``teacher [onnx]`` for ``kd [onnx]``) where there is one, else the first teacher."""
    teachers = [str(m) for m in pd.unique(rows.loc[rows["role"] == "teacher", "model"])]
    same_variant = [t for t in teachers if t.removeprefix(base_model(t)) == model.removeprefix(base_model(model))]
    candidates = same_variant or teachers
    return candidates[0] if candidates else None


def _speedup_vs_teacher(here: pd.DataFrame, teacher_p50: tables.Estimate, own_p50: tables.Estimate) -> dict[str, Any]:
    """The paired metric's estimate where the machine has its rows, else the unpaired ratio of the p50s."""
    paired = here[here["metric"] == "speedup_vs_teacher"]
    est = tables.aggregate(paired) if len(paired) else tables.Estimate(_ratio(teacher_p50.value, own_p50.value))
    return {"speedup_vs_teacher": est.value, "speedup_vs_teacher_low": est.low,
            "speedup_vs_teacher_high": est.high, "speedup_vs_teacher_paired": bool(len(paired))}


def _p50(rows: pd.DataFrame, model: str | None, machine: str, size: int) -> tables.Estimate:
    """``model``'s latency p50 on ``machine`` at batch size ``size``, over seeds."""
    own = rows[(rows["model"] == model) & (rows["batch_size"] == size) & (rows["machine"] == machine)]
    return tables.aggregate(own[own["metric"] == "latency_p50_ms"])


def _ratio(reference: float, own: float) -> float:
    return reference / own if own and not (math.isnan(reference) or math.isnan(own)) else math.nan


def comparison_table(rows: pd.DataFrame, machines: Sequence[str], reference: str) -> pd.DataFrame:
    """One row per (model, batch size, machine): each speed metric's estimate over seeds, the speedup against
    the reference machine (``speedup_vs_reference``, unpaired) and the speedup against the teacher on the same
    machine (``speedup_vs_teacher``, paired where the runs have the metric)."""
    records = []
    for model in tables.model_order(rows):
        teacher = _teacher_of(rows, model)
        for size in tables.batch_sizes(rows[rows["model"] == model]):
            scope = rows[(rows["model"] == model) & (rows["batch_size"] == size)]
            p50 = {m: tables.aggregate(scope[(scope["machine"] == m) & (scope["metric"] == "latency_p50_ms")])
                   for m in machines}
            for machine in machines:
                if not (scope["machine"] == machine).any():
                    continue
                here = scope[scope["machine"] == machine]
                record: dict[str, Any] = {"model": model, "batch_size": int(size), "machine": machine}
                for name in SPEED_METRICS:
                    est = tables.aggregate(here[here["metric"] == name])
                    record.update({name: est.value, f"{name}_low": est.low, f"{name}_high": est.high,
                                   f"{name}_note": est.note})
                record["speedup_vs_reference"] = _ratio(p50[reference].value, p50[machine].value)
                record.update(_speedup_vs_teacher(here, _p50(rows, teacher, machine, size), p50[machine]))
                records.append(record)
    return pd.DataFrame(records)


#: the column of the speedup against the reference machine: across runs or processes, never paired
VS_REFERENCE = "speedup vs reference machine (unpaired)"
#: how the report explains both speedups
SPEEDUPS = ("speedup vs reference machine = reference machine's p50 / this machine's p50, from separate runs "
            "(unpaired: a slow phase of either machine is in it); speedup vs teacher = the teacher's p50 / the "
            "model's on the same machine, from the same paired rounds, with its 95% interval ((unpaired): a run "
            "before schema 3, the ratio of p50s timed in separate windows)")


def _times(value: float) -> str:
    """A speedup to 3 significant digits (0.00391x, 1.25x), so a slowdown of 100x does not read 0.00x."""
    return formatting.MISSING if pd.isna(value) else f"{value:.3g}x"


def display_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_table` as strings; energy only where some machine measured it."""
    out = pd.DataFrame({"model": table["model"], "batch": table["batch_size"].astype(str),
                        "machine": table["machine"]})
    lat = metric("latency_p50_ms").unit
    out[formatting.header("latency p50", lat)] = [formatting.format_value(v, lat) for v in table["latency_p50_ms"]]
    out[formatting.header("p50 95% CI", lat)] = [formatting.format_interval(lo, hi, lat) for lo, hi in
                                               zip(table["latency_p50_ms_low"], table["latency_p50_ms_high"],
                                                   strict=True)]
    out[VS_REFERENCE] = [_times(v) for v in table["speedup_vs_reference"]]
    out["speedup vs teacher"] = [_times(v) + ("" if paired or pd.isna(v) else " (unpaired)")
                                 for v, paired in zip(table["speedup_vs_teacher"],
                                                      table["speedup_vs_teacher_paired"], strict=True)]
    out["speedup vs teacher 95% CI"] = [formatting.format_interval(lo, hi, "x") for lo, hi in
                                        zip(table["speedup_vs_teacher_low"], table["speedup_vs_teacher_high"],
                                            strict=True)]
    for label, name in (("throughput", "throughput_sps"), ("peak memory", "peak_memory_bytes"),
                        ("energy per sample", "energy_j_per_sample")):
        if name == "energy_j_per_sample" and table[name].isna().all():
            continue
        unit = metric(name).unit
        out[formatting.header(label, unit)] = [formatting.format_value(v, unit) for v in table[name]]
    return out


def environment_table(envs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Field × machine, with whether the field differs between machines (those first)."""
    records = []
    for label, key in ENVIRONMENT:
        values = [envs[m].get(key) for m in envs]
        shown = [formatting.human_bytes(v) if key == "ram_bytes" and v else formatting.MISSING if v is None else str(v)
                 for v in values]
        records.append({"field": label, "differs": "yes" if len(set(shown)) > 1 else "", **dict(zip(envs, shown,
                                                                                                    strict=True))})
    table = pd.DataFrame(records)
    return table.sort_values("differs", ascending=False, kind="stable").reset_index(drop=True)


def findings(table: pd.DataFrame, reference: str) -> list[str]:
    """One line per other machine: its speedup range against the reference machine over models and batch
    sizes."""
    lines = []
    for machine, group in table[table["machine"] != reference].groupby("machine", sort=False):
        speedups = group["speedup_vs_reference"].dropna()
        if speedups.empty:
            lines.append(f"{machine}: no latency to compare with {reference}")
            continue
        best = group.sort_values("speedup_vs_reference", ascending=False).iloc[0]
        lines.append(f"{machine} against the reference machine {reference}: speedup vs reference machine "
                     f"{_times(speedups.min())} to {_times(speedups.max())} "
                     f"(median {_times(speedups.median())} over {len(speedups)} model × batch-size cells; "
                     f"largest for {best['model']} at batch size {best['batch_size']})")
    return lines
