"""``harness merge``: the run directories of a suite's shards as one run, nothing lost or doubled.

The shards must come from one suite (equal suite hashes). Every model of the
suite (a ``(model, seed)`` job, :mod:`harness.plan`) must have rows in exactly
one of them: a model in two shards, or in none, is refused with its name and
the run directories concerned. The merged run is a new run directory whose
rows are the shards' rows under one run id; its manifest lists the shards it
came from (run id, shard, machine, times). Shard directories are never changed.

``load_results`` over the shard directories gives the same rows without a merge
(their run ids differ); the merge adds the checks and one run id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness import against_baseline, plan
from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.measure.machine_load import worst
from harness.rows import Status
from harness.store import RunWriter, load_predictions, load_results, read_manifest

#: manifest keys that describe one run, not the suite: the merged manifest sets its own
_PER_RUN = ("schema_version", "run_id", "started_at", "finished_at", "status", "shard", "resumed_at", "row_counts",
            "failed_rows", "failed_models", "error", "noise_floor", "machine_load", "merged_from")
_STATUS_ORDER = ("complete", "complete_with_errors", "interrupted", "failed", "running")


def _same_suite(manifests: dict[Path, Manifest]) -> None:
    hashes = defaultdict(list)
    for run_dir, manifest in manifests.items():
        hashes[manifest.suite_hash].append(str(run_dir))
    if len(hashes) > 1:
        groups = "; ".join(f"{str(h)[:12]}: {', '.join(dirs)}" for h, dirs in hashes.items())
        raise HarnessError(f"merge: the runs come from different suites (suite hashes {groups})")


def job_owners(rows: dict[Path, pd.DataFrame]) -> dict[plan.Job, list[Path]]:
    """(model, seed) -> the run directories that have rows of it."""
    owners: dict[plan.Job, list[Path]] = defaultdict(list)
    for run_dir, df in rows.items():
        for model, seed in sorted({(str(m), int(s)) for m, s in zip(df["model"], df["seed"], strict=True)}):
            owners[model, seed].append(run_dir)
    return owners


def check_partition(expected: Sequence[plan.Job], owners: dict[plan.Job, list[Path]]) -> None:
    """Every expected job in exactly one run and no other job: else one line naming what is wrong."""
    doubled = {job: dirs for job, dirs in owners.items() if len(dirs) > 1}
    if doubled:
        text = "; ".join(f"{m} (seed {s}) in {', '.join(map(str, d))}" for (m, s), d in doubled.items())
        raise HarnessError(f"merge: models measured in more than one run: {text}")
    missing = [job for job in expected if job not in owners]
    if missing:
        text = ", ".join(f"{m} (seed {s})" for m, s in missing)
        raise HarnessError(f"merge: no run has rows of {text}: run (or resume) the shard that holds them")
    unknown = [job for job in owners if job not in set(expected)]
    if unknown:
        text = ", ".join(f"{m} (seed {s})" for m, s in unknown)
        raise HarnessError(f"merge: rows of models the suite does not have: {text}")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    kept = df.drop(columns="run_id")
    records = kept.astype(object).where(kept.notna(), None).to_dict("records")
    return [{str(k): v for k, v in row.items()} for row in records]


def merged_noise_floor(manifests: Sequence[Manifest]) -> dict[str, Any] | None:
    """The shards' A/A noise floors as one: the largest, every shard's cells (each names its run)."""
    floors = [(m.run_id, m.noise_floor) for m in manifests if m.noise_floor]
    if not floors:
        return None
    known = [f["pct"] for _, f in floors if f.get("pct") is not None]
    cells = [{**cell, "run_id": run_id} for run_id, f in floors for cell in f.get("cells", [])]
    merged = {"pct": max(known) if known else None, "method": floors[0][1].get("method"), "cells": cells}
    return merged if known else {**merged, "reason": "no shard measured it"}


def merged_machine_load(manifests: Sequence[Manifest]) -> dict[str, Any] | None:
    """The shards' machine load as one: the most contended shard's window (its ``run_id`` added), each shard's
    share under ``windows``; None when no shard recorded it."""
    return worst([{**m.machine_load, "run_id": m.run_id} if m.machine_load else None for m in manifests])


def merge_runs(run_dirs: Sequence[Path], results_dir: Path) -> RunWriter:
    """Merge shard run directories into a new run under ``results_dir``; returns its writer."""
    if len(set(run_dirs)) != len(run_dirs):
        raise HarnessError("merge: a run directory is given twice")
    manifests = {Path(d): read_manifest(Path(d)) for d in run_dirs}
    _same_suite(manifests)
    rows = {d: load_results(d) for d in manifests}
    first = next(iter(manifests.values()))
    check_partition(plan.jobs(first.suite), job_owners(rows))
    shards = [{"run_id": m.run_id, "shard": m.shard, "machine_id": m.hardware.machine_id, "started_at": m.started_at,
               "finished_at": m.finished_at, "status": m.status}
              for m in manifests.values()]
    base = {k: v for k, v in first.model_dump().items() if k not in _PER_RUN}
    floor = merged_noise_floor(list(manifests.values()))
    load = merged_machine_load(list(manifests.values()))
    writer = RunWriter.create(results_dir, first.suite_name, {**base, "merged_from": shards,
                                                                   **({"noise_floor": floor} if floor else {}),
                                                                   **({"machine_load": load} if load else {})})
    samples = pd.concat([load_results(d, samples=True) for d in manifests], ignore_index=True)
    predictions = pd.concat([load_predictions(d) for d in manifests], ignore_index=True)
    merged = pd.concat(rows.values(), ignore_index=True)
    # a shard could not pair a student with a baseline another shard measured: pair them all again here
    merged = merged[~merged["metric"].isin([against_baseline.GAIN, against_baseline.MCNEMAR])]
    writer.append(_records(merged), _records(samples), predictions.drop(columns="run_id"))
    writer.append(against_baseline.rows(first.suite, writer.rows(), writer.predictions()))
    writer.manifest.started_at = min(str(m.started_at) for m in manifests.values())
    counts = writer.status_counts()
    status = max((m.status for m in manifests.values()),
                 key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else len(_STATUS_ORDER))
    writer.finish(status, failed_rows=counts.get(Status.ERROR, 0), failed_models=len(writer.failed_models()),
                  row_counts=counts)
    return writer
