"""Run a suite: build every model (cached), measure each, write rows as it goes.

Build phase (:mod:`harness.build`): the dataset, the teacher once, then each
student once per seed. Measure phase: quality, size and flops in this process
(they are deterministic), latency and memory per model and device in a fresh
process. Each model's rows are written atomically as soon as it is measured,
so an interrupted run keeps every finished model and ``resume`` measures only
the models that are missing.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

import harness
from harness.build import Builder, Built, Log
from harness.cache import ModelCache
from harness.data import DATASETS
from harness.data.base import Dataset
from harness.errors import HarnessError, one_line
from harness.hardware import fingerprint, git_commit
from harness.measure import size
from harness.measure.embedding import quality_estimates
from harness.measure.threads import torch_threads
from harness.measure.worker import BatchResult, measure_isolated, start_server
from harness.metrics import METRICS, metric
from harness.registry import extra_sys_path
from harness.store import RunWriter
from harness.suite import Suite
from harness.train import predict_logits

_START = time.perf_counter()
PER_BATCH = [name for name, declared in METRICS.items() if declared.per_batch_size]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a run; ``writer`` is the run directory, marked ``interrupted``."""

    def __init__(self, writer: RunWriter):
        super().__init__(str(writer.run_dir))
        self.writer = writer


def _stderr(message: str) -> None:
    print(f"[{time.perf_counter() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


class Measurer:
    """Turns a built model into rows: every declared metric, each with a value or a reason."""

    def __init__(self, suite: Suite, data: Dataset, teacher_logits: torch.Tensor | None, teacher_error: str = ""):
        self.suite, self.data, self.teacher_logits, self.teacher_error = suite, data, teacher_logits, teacher_error

    def _row(self, built: Built, name: str, value: float | None, *, batch_size: int | None = None,
             device: str = "cpu", ci: tuple[float, float] = (math.nan, math.nan), n: int | None = None,
             status: str = "ok", error: str = "", backend: str = "eager", seq_len: int | None = None,
             ) -> dict[str, Any]:
        return {"suite": self.suite.name, "model": built.name, "role": built.role, "method": built.method,
                "seed": built.seed, "device": device, "dtype": built.dtype, "batch_size": batch_size,
                "metric": name, "value": math.nan if value is None else float(value), "unit": metric(name).unit,
                "ci_low": ci[0], "ci_high": ci[1], "n": n, "status": status, "error": error,
                "backend": backend, "seq_len": seq_len}

    def backends(self, built: Built) -> list[str]:
        """The latency backends of a model: its student spec's ``backends``, else ``measure.backends``."""
        spec = next((s for s in self.suite.students if s.name == built.name), None)
        own = spec.backends if spec is not None and built.role == "student" else None
        return list(own or self.suite.measure.backends)

    def seq_lens(self) -> list[int | None]:
        """Sequence lengths to time for token inputs (``measure.seq_lens`` or the dataset's); [None] otherwise."""
        if self.data.token_range is None:
            return [None]
        return list(self.suite.measure.seq_lens or [self.data.input_shape[-1]])

    def cells(self, built: Built) -> list[tuple[str, str, int | None]]:
        """(device, backend, seq_len) of every latency measurement of ``built``."""
        return [(device, backend, seq_len) for device in self.suite.measure.devices
                for backend in self.backends(built) for seq_len in self.seq_lens()]

    def failed_rows(self, built: Built) -> list[dict[str, Any]]:
        """Every metric of a model that could not be built, each an error row with the reason."""
        rows = [self._row(built, m.name, None, status="error", error=built.error)
                for _, m in METRICS.items() if not m.per_batch_size]
        for device, backend, seq_len in self.cells(built):
            rows += [self._row(built, name, None, batch_size=b, device=device, status="error", error=built.error,
                               backend=backend, seq_len=seq_len)
                     for name in PER_BATCH for b in self.suite.measure.batch_sizes]
        return rows

    def model_rows(self, built: Built) -> list[dict[str, Any]]:
        if built.module is None:
            return []
        outputs = predict_logits(built.module, self.data.x_test)
        estimates, absent = quality_estimates(self.data, outputs, self.teacher_logits, self.teacher_error,
                                              self.suite.measure.neighbors)
        rows = [self._row(built, name, est.value, ci=(est.ci_low, est.ci_high), n=est.n)
                for name, est in estimates.items()]
        rows += [self._row(built, name, None, status=status, error=reason) for name, (status, reason) in absent.items()]
        rows.append(self._row(built, "params", size.count_params(built.module)))
        rows.append(self._row(built, "params_nonzero", size.count_nonzero_params(built.module)))
        rows.append(self._row(built, "size_bytes", size.serialized_size_bytes(built.module)))
        rows.append(self._row(built, "size_bytes_sparse", size.sparse_size_bytes(built.module)))
        if built.dtype == "int8":
            rows.append(self._row(built, "flops", None, status="skipped",
                                  error="the flop counter does not count int8 (quantized) kernels"))
        else:
            try:
                one = self.data.x_test[:1]
                one = one.to(size.model_dtype(built.module)) if one.is_floating_point() else one
                rows.append(self._row(built, "flops", size.flops_per_sample(built.module, one)))
            except Exception as exc:  # an op the counter does not know: absent, with the reason
                rows.append(self._row(built, "flops", None, status="error", error=one_line(exc)))
        if built.train_seconds is None:
            pretrained = built.method == "pretrained"
            reason = "pretrained, not trained by this run" if pretrained else "loaded from a checkpoint"
            rows.append(self._row(built, "train_seconds", None, status="skipped", error=reason))
        else:
            rows.append(self._row(built, "train_seconds", built.train_seconds))
        return rows

    def speed_rows(self, built: Built, device: str, backend: str = "eager", seq_len: int | None = None,
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
        """Every per-batch-size metric at every batch size on ``device`` as ``backend`` runs the model (at
        ``seq_len`` tokens for text models): a value, or why there is none."""
        if built.module is None:
            return [], [], None
        measure = self.suite.measure
        threads = None
        input_shape = self.data.input_shape if seq_len is None else (*self.data.input_shape[:-1], seq_len)
        if device.startswith("cuda") and not torch.cuda.is_available():
            reason = f"{device} is not available on this host"
            results = [BatchResult(b, "skipped", reason) for b in measure.batch_sizes]
        elif device.startswith("cuda") and built.dtype == "int8":
            reason = "int8 (torch.ao quantized) models run on the CPU only"
            results = [BatchResult(b, "skipped", reason) for b in measure.batch_sizes]
        else:
            try:
                threads, results = measure_isolated(built.module, input_shape, list(measure.batch_sizes),
                                                    device, measure.threads, measure.latency.settings(),
                                                    include_h2d=measure.latency.include_h2d,
                                                    timeout=measure.timeout_seconds, backend=backend,
                                                    token_range=self.data.token_range)
            except Exception as exc:  # the worker crashed, timed out or could not start
                reason = f"measurement process failed: {one_line(exc)}"
                results = [BatchResult(b, "error", reason) for b in measure.batch_sizes]
        rows, samples = [], []
        for res in results:
            for name in PER_BATCH:
                kw: dict[str, Any] = {"batch_size": res.batch_size, "device": device, "backend": backend,
                                      "seq_len": seq_len}
                if name in res.values:
                    value, low, high, n = res.values[name]
                    rows.append(self._row(built, name, value, ci=(low, high), n=n, **kw))
                elif res.status != "ok":
                    rows.append(self._row(built, name, None, status=res.status, error=res.error, **kw))
                else:
                    status, reason = res.absent.get(name, ("error", "the measuring process did not report it"))
                    rows.append(self._row(built, name, None, status=status, error=reason, **kw))
            samples += [{"model": built.name, "seed": built.seed, "device": device, "dtype": built.dtype,
                         "batch_size": res.batch_size, "iteration": i, "latency_ms": s, "backend": backend,
                         "seq_len": seq_len}
                        for i, s in enumerate(res.samples_ms)]
        return rows, samples, threads


def load_dataset(suite: Suite) -> Dataset:
    return DATASETS.get(suite.dataset.name)(seed=suite.dataset.seed, **suite.dataset.params)


def _manifest(suite: Suite) -> dict[str, Any]:
    return {"suite": suite.resolved(), "suite_name": suite.name, "suite_hash": suite.content_hash(),
            "suite_file": str(suite.source) if suite.source else None,
            "hardware": fingerprint(suite.measure.threads), "harness_version": harness.__version__,
            "git_commit": git_commit()}


def run_suite(suite: Suite, results_dir: Path, cache: ModelCache | None, log: Log = _stderr,
              resume: Path | None = None) -> RunWriter:
    """Run every model of ``suite`` (or, with ``resume``, those missing from that run directory).

    Returns the writer of the run directory; ``writer.manifest`` holds the
    final status and counts. Ctrl-C marks the run ``interrupted`` and re-raises.
    """
    suite_dir = suite.source.parent if suite.source else None
    with extra_sys_path(suite_dir):
        if resume is None:
            writer = RunWriter.create(results_dir, suite.name, _manifest(suite))
        else:
            writer = RunWriter.open(resume)
            if writer.manifest.get("suite_hash") != suite.content_hash():
                raise HarnessError(f"{resume}: made by a different suite (or a changed one); "
                                   f"resume needs the same suite, unchanged")
            writer.manifest.setdefault("resumed_at", []).append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        log(f"run {writer.run_id}: {writer.run_dir}")
        try:
            _run(suite, writer, cache, log)
        except KeyboardInterrupt:
            writer.finish("interrupted")
            raise RunInterrupted(writer) from None
        except BaseException as exc:
            writer.finish("failed", error=one_line(exc))
            raise
    return writer


def _run(suite: Suite, writer: RunWriter, cache: ModelCache | None, log: Log) -> None:
    start_server()  # its start-up (importing torch) overlaps loading data and training
    done = writer.done_models()
    if done:
        log(f"resuming: {len(done)} models already measured are kept")
    log(f"dataset {suite.dataset.name}")
    data = load_dataset(suite)
    log(f"  {len(data.x_train)} train / {len(data.x_test)} test, input {data.input_shape}, {data.num_classes} classes")
    log(f"build ({suite.build.threads} thread{'s' if suite.build.threads > 1 else ''})")
    builder = Builder(suite, data, cache, log)
    with torch_threads(suite.build.threads):
        teacher = builder.teacher()
        models = [teacher] if (teacher.name, teacher.seed) not in done else []
        models += builder.students(teacher, skip=done)
    writer.manifest["teacher_outputs"] = builder.outputs.summary()
    pipelines = writer.manifest.setdefault("build_steps", {})
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
        if built.module is None:
            writer.append(measurer.failed_rows(built))
            log(f"  {built.name} (seed {built.seed}): not built, its rows record why")
            continue
        rows = measurer.model_rows(built)
        samples: list[dict[str, Any]] = []
        for device, backend, seq_len in measurer.cells(built):
            device_rows, device_samples, threads = measurer.speed_rows(built, device, backend, seq_len)
            if threads is not None:
                writer.manifest["hardware"]["threads"] = threads
            rows += device_rows
            samples += device_samples
        writer.append(rows, samples)
        errors = sum(r["status"] == "error" for r in rows)
        log(f"  {built.name} (seed {built.seed}): {len(rows)} rows" + (f", {errors} errors" if errors else ""))
    counts = writer.status_counts()
    failed_models = writer.failed_models()
    writer.finish("complete" if not counts.get("error") else "complete_with_errors",
                  failed_rows=counts.get("error", 0), failed_models=len(failed_models), row_counts=counts)
