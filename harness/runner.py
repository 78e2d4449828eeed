"""Run a suite: build every model (cached), measure them, write rows as models finish.

Build phase (:mod:`harness.build`): the dataset, the teacher once, then each
student once per seed. Measure phase (:mod:`harness.measurer`, timed by the
executor): quality, size and flops in this process (they are deterministic),
latency and memory per cell (device × threads × dtype × backend × sequence
length), every model of a cell in its own fresh process, in paired rounds.
Each model's rows are written atomically once its cells are back, so an
interrupted run keeps every finished model and ``resume`` measures only the
models that are missing. This module orchestrates: the run directory, the
manifest, resume and shards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import harness
from harness import against_baseline, plan
from harness.build import Builder, Log, build_plan, dataset_key
from harness.cache import ModelCache
from harness.data.base import Dataset
from harness.errors import HarnessError, one_line
from harness.executors import Executor, LocalExecutor
from harness.hardware import fingerprint, git_commit
from harness.measure.machine_load import LoadRecorder, worst
from harness.measure.threads import torch_threads
from harness.measurer import Measurer
from harness.preflight import checked_dataset
from harness.registry import extra_sys_path
from harness.rows import Status
from harness.store import RunWriter
from harness.suite import Suite
from harness.train import predict_logits

_START = time.perf_counter()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a run; ``writer`` is the run directory, marked ``interrupted``."""

    def __init__(self, writer: RunWriter):
        super().__init__(str(writer.run_dir))
        self.writer = writer


def _stderr(message: str) -> None:
    print(f"[{time.perf_counter() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def _manifest(suite: Suite, shard: plan.Shard | None, executor: Executor) -> dict[str, Any]:
    return {"suite": suite.resolved(), "suite_name": suite.name, "suite_hash": suite.content_hash(),
            "suite_file": str(suite.source) if suite.source else None, "overrides": list(suite.overrides),
            "hardware": fingerprint(suite.measure.threads), "harness_version": harness.__version__,
            "git_commit": git_commit(), "executor": executor.describe(),
            **({"shard": shard.as_dict()} if shard else {})}


def _overrides_differ(recorded: list[str], given: tuple[str, ...]) -> str:
    """What a resume's message adds when the run's ``--set`` overrides are not the ones given now."""
    if list(recorded) == list(given):
        return ""
    shown = [" ".join(f"--set {o}" for o in overrides) or "none" for overrides in (recorded, given)]
    return f", and the same --set overrides (the run had: {shown[0]}; given now: {shown[1]})"


def _shard_of(writer: RunWriter, shard: plan.Shard | None) -> plan.Shard | None:
    """The shard a resumed run continues: the one its manifest records (``--shard`` may repeat it)."""
    recorded = writer.manifest.shard
    kept = plan.Shard(**recorded) if recorded else None
    if shard is not None and shard != kept:
        raise HarnessError(f"{writer.run_dir}: ran as shard {kept or 'none (the whole suite)'}, not {shard}; "
                           f"resume it with the same --shard")
    return kept


def run_suite(suite: Suite, results_dir: Path, cache: ModelCache | None, log: Log = _stderr,
              resume: Path | None = None, *, shard: plan.Shard | None = None,
              executor: Executor | None = None) -> RunWriter:
    """Run every model of ``suite`` (or, with ``resume``, those missing from that run directory).

    ``shard`` runs only that shard's jobs (:mod:`harness.plan`); ``executor``
    builds and measures them (default: in this process, :class:`LocalExecutor`).
    Returns the writer of the run directory; ``writer.manifest`` holds the
    final status and counts. Ctrl-C marks the run ``interrupted`` and re-raises.
    """
    executor = executor or LocalExecutor()
    suite_dir = suite.source.parent if suite.source else None
    with extra_sys_path(suite_dir), executor:  # started first: one that cannot start leaves no run directory
        if resume is not None:
            writer = RunWriter.open(resume)
            if writer.manifest.suite_hash != suite.content_hash():
                raise HarnessError(f"{resume}: made by a different suite (or a changed one); resume needs the same "
                                   f"suite, unchanged{_overrides_differ(writer.manifest.overrides, suite.overrides)}")
            shard = _shard_of(writer, shard)
        executor.prepare()  # the local executor's fork server starts now, overlapping loading data and training
        data = checked_dataset(suite)  # before the run directory: bad data or a model that cannot take it
        # leaves nothing behind
        log(f"dataset {suite.dataset.name}: {len(data.x_train)} train / {len(data.x_test)} test, "
            f"input {data.input_shape}, {data.num_classes} classes")
        key = dataset_key(suite)  # each data file's sha256, hashed once: the cache keys' and the manifest's
        if resume is None:
            digests = {"sha256": key["files"]} if "files" in key else {}
            writer = RunWriter.create(results_dir, suite.name,
                                      {**_manifest(suite, shard, executor), "dataset_info": {**data.info, **digests}})
        else:
            writer.manifest.resumed_at.append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        log(f"run {writer.run_id}: {writer.run_dir}" + (f" (shard {shard})" if shard else ""))
        try:
            _run(suite, data, key, writer, cache, log, executor, shard)
        except KeyboardInterrupt:
            writer.finish("interrupted")
            raise RunInterrupted(writer) from None
        except BaseException as exc:
            writer.finish("failed", error=one_line(exc))
            raise
    return writer


def _with_earlier_floor(earlier: dict[str, Any] | None, floor: dict[str, Any]) -> dict[str, Any]:
    """A resumed run's A/A noise floor: the larger of the one its manifest recorded and the resume's own (as a
    merge takes the largest shard's), with the cells of both; the earlier one where the resume timed no A/A round
    (it measured nothing, say). A new run has no earlier floor: its own.

    >>> before = {"pct": 2.0, "cells": ["a"]}
    >>> _with_earlier_floor(before, {"pct": None, "reason": "no A/A round", "cells": []}) == before
    True
    >>> _with_earlier_floor(before, {"pct": 3.5, "cells": ["b"]})
    {'pct': 3.5, 'cells': ['a', 'b']}
    """
    if not earlier:
        return floor
    known = [f for f in (earlier, floor) if f.get("pct") is not None]
    chosen = max(known, key=lambda f: f["pct"]) if known else floor
    return {**chosen, "cells": [*earlier.get("cells", []), *floor.get("cells", [])]}


def _skipped_jobs(suite: Suite, writer: RunWriter, shard: plan.Shard | None, log: Log) -> set[plan.Job]:
    """Jobs this run does not measure: those already in the run directory, and other shards' jobs."""
    done = writer.done_models()
    if done:
        log(f"resuming: {len(done)} models already measured are kept")
    if shard is None:
        return done
    every = plan.jobs(suite.resolved())
    mine = shard.select(every)
    log(f"shard {shard}: {len(mine)} of {len(every)} models")
    return done | (set(every) - set(mine))


def _record_load(writer: RunWriter, load: LoadRecorder, executor: Executor, log: Log) -> None:
    """The measure window's machine load into the manifest (the worst window, when a resume measured again); only
    where this host timed the cells: another executor's workers run elsewhere, so this host's load says nothing."""
    if executor.name != "local":
        return
    found = load.summary()
    writer.manifest.machine_load = worst([writer.manifest.machine_load, found])
    log(f"  machine load: other processes {found['other_cpu_share'] or 0:.0%} of the CPU, load average "
        f"{found['loadavg_max']}: {'contended, ' + found['reason'] if found['contended'] else 'not contended'}")


def _run(suite: Suite, data: Dataset, key: dict[str, Any], writer: RunWriter, cache: ModelCache | None, log: Log,
         executor: Executor, shard: plan.Shard | None) -> None:
    skip = _skipped_jobs(suite, writer, shard, log)
    log(f"build ({suite.build.threads} thread{'s' if suite.build.threads > 1 else ''}, {executor.describe()})")
    builder = Builder(suite, data, cache, log, key)
    with torch_threads(suite.build.threads):
        teacher = builder.teacher()  # every shard builds it (from the cache when shared): students learn from it
        models = [teacher] if (teacher.name, teacher.seed) not in skip else []
        models += [built for built in executor.build_students(builder, teacher, build_plan(suite, skip))
                   if (built.name, built.seed) not in skip]
    writer.manifest.teacher_outputs = builder.outputs.summary()
    pipelines = writer.manifest.build_steps
    for built in models:
        if len(built.steps) > 1:  # each step's cost of a pipeline: train_seconds holds their sum
            pipelines.setdefault(built.name, {})[str(built.seed)] = built.steps
    log("measure")
    teacher_logits, teacher_error = None, teacher.error
    if teacher.module is not None:
        try:
            teacher_logits = predict_logits(teacher.module, data.x_test)
        except Exception as exc:  # a loaded program that cannot run the test set, say
            teacher_error = f"forward on the test split failed: {one_line(exc)}"
    measurer = Measurer(suite, data, teacher_logits, teacher_error)
    for built in models:
        if built.module is not None:
            try:
                predict_logits(built.module, data.x_test[:2])
            except Exception as exc:  # it cannot run on the data: every row says why
                built.module, built.error = None, f"forward on the test split failed: {one_line(exc)}"
    used: set[int] = set()
    with LoadRecorder() as load:  # how busy the machine was while the cells were timed
        for built, rows, samples, threads in executor.measure(measurer, models, teacher):
            used |= set(threads)
            if used:  # the counts the cells really ran with: one number, or a list for a thread matrix
                writer.manifest.hardware.threads = min(used) if len(used) == 1 else sorted(used)
            predictions = measurer.take_predictions(built)
            writer.append(rows, samples, predictions if predictions is not None else ())
            errors = sum(r.status == Status.ERROR for r in rows)
            state = "not built, its rows record why" if built.module is None else f"{len(rows)} rows"
            log(f"  {built.name} (seed {built.seed}): {state}"
                + (f", {errors} errors" if errors and built.module else ""))
    _record_load(writer, load, executor, log)
    floor = measurer.noise.summary()
    if floor is not None:
        floor = writer.manifest.noise_floor = _with_earlier_floor(writer.manifest.noise_floor, floor)
        log(f"  noise floor (A/A): {'not measured, ' + floor['reason'] if floor['pct'] is None else floor['pct']}"
            + ("" if floor["pct"] is None else "% (latency differences under it cannot be told apart here)"))
    lateness = measurer.loadgen.summary()
    if lateness is not None:
        writer.manifest.loadgen = lateness
        share = lateness["p99_over_median_latency"]
        log(f"  load generator: p99 wake-up lateness {lateness['p99_ms']:.3g} ms"
            + ("" if share is None else f" ({100 * share:.0f}% of the median latency it measured)"))
    writer.append([], measurer.twin_samples)
    elsewhere = "its baseline is measured in another shard: merge the shards" if shard is not None else ""
    writer.append(against_baseline.rows(suite.resolved(), writer.rows(), writer.predictions(), elsewhere))
    counts = writer.status_counts()
    failed_models = writer.failed_models()
    writer.finish("complete" if not counts.get(Status.ERROR) else "complete_with_errors",
                  failed_rows=counts.get(Status.ERROR, 0), failed_models=len(failed_models), row_counts=counts)
