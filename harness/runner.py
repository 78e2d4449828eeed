"""Run a suite: build every model (cached), measure each, write rows as it goes.

Build phase: the dataset, the teacher once, then each student once per seed,
each from the model cache when an identical build exists. Measure phase:
quality, size and flops in this process (they are deterministic), latency
and memory per model and device in a fresh process.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import harness
from harness.cache import ModelCache, cache_key
from harness.data import DATASETS
from harness.data.base import Dataset
from harness.hardware import fingerprint, git_commit
from harness.measure import quality, size
from harness.measure.threads import torch_threads
from harness.measure.worker import BatchResult, measure_isolated
from harness.methods import BuildContext, get_method
from harness.metrics import metric
from harness.models import ARCHITECTURES
from harness.models.checkpoint import load_weights
from harness.registry import extra_sys_path
from harness.store import RunWriter
from harness.suite import Suite
from harness.train import predict_logits

Log = Callable[[str], None]


_START = time.perf_counter()


def _stderr(message: str) -> None:
    print(f"[{time.perf_counter() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Built:
    """A model ready to measure, and how it came to be."""

    name: str
    role: str
    method: str
    seed: int
    module: nn.Module
    train_seconds: float | None
    cached: bool
    key: str | None


def make_model(arch: str, params: dict[str, Any], data: Dataset, seed: int) -> nn.Module:
    """A freshly initialised architecture (initialisation seeded by ``seed``)."""
    torch.manual_seed(seed)
    return ARCHITECTURES.get(arch)(input_shape=data.input_shape, num_classes=data.num_classes, **params)


class Builder:
    def __init__(self, suite: Suite, data: Dataset, cache: ModelCache | None, log: Log):
        self.suite, self.data, self.cache, self.log = suite, data, cache, log
        self.dataset_spec = suite.dataset.model_dump(mode="json")
        self.threads = suite.build.threads
        self._teacher_logits: dict[str, torch.Tensor] = {}

    def _cached_build(self, key: str, model: nn.Module, build: Callable[[], nn.Module],
                      label: str) -> tuple[nn.Module, float, bool]:
        meta = self.cache.load(key, model) if self.cache else None
        if meta is not None:
            self.log(f"  {label}: from cache ({meta['train_seconds']:.1f} s to build)")
            return model.eval(), float(meta["train_seconds"]), True
        self.log(f"  {label}: building")
        start = time.perf_counter()
        built = build()
        seconds = time.perf_counter() - start
        if self.cache:
            self.cache.save(key, built, {"label": label, "train_seconds": seconds})
        return built.eval(), seconds, False

    def teacher(self) -> Built:
        spec = self.suite.teacher
        model = make_model(spec.arch, spec.params, self.data, spec.seed)
        if spec.checkpoint is not None:
            load_weights(model, Path(spec.checkpoint))
            self.log(f"  {spec.name}: loaded {spec.checkpoint}")
            return Built(spec.name, "teacher", "checkpoint", spec.seed, model.eval(), None, False, None)
        recipe = get_method("train")
        key = cache_key(role="teacher", dataset=self.dataset_spec, arch=spec.arch, params=spec.params,
                        method={"name": "train", "params": spec.train}, seed=spec.seed,
                        threads=self.threads)
        ctx = BuildContext(model, self.data, spec.seed, spec.name)
        module, seconds, cached = self._cached_build(
            key, model, lambda: recipe.build(ctx, recipe.params.model_validate(spec.train)), spec.name)
        return Built(spec.name, "teacher", "train", spec.seed, module, seconds, cached, key)

    def students(self, teacher: Built) -> Iterator[Built]:
        for seed in self.suite.seeds:
            for spec in self.suite.students:
                found = get_method(spec.method.name)
                model = make_model(spec.arch, spec.params, self.data, seed)
                key = cache_key(role="student", dataset=self.dataset_spec, arch=spec.arch, params=spec.params,
                                method=spec.method.model_dump(mode="json"), seed=seed, threads=self.threads,
                                teacher=teacher.key if found.uses_teacher else None)
                ctx = BuildContext(model, self.data, seed, f"{spec.name} seed {seed}",
                                   teacher.module if found.uses_teacher else None, self._teacher_logits)
                params = found.params.model_validate(spec.method.params)
                module, seconds, cached = self._cached_build(
                    key, model, functools.partial(found.build, ctx, params), f"{spec.name} (seed {seed})")
                yield Built(spec.name, "student", spec.method.name, seed, module, seconds, cached, key)


class Measurer:
    def __init__(self, suite: Suite, data: Dataset, teacher_logits: torch.Tensor):
        self.suite, self.data, self.teacher_logits = suite, data, teacher_logits

    def _row(self, built: Built, name: str, value: float | None, *, batch_size: int | None = None,
             device: str = "cpu", ci: tuple[float, float] = (math.nan, math.nan), n: int | None = None,
             status: str = "ok", error: str = "") -> dict[str, Any]:
        return {"suite": self.suite.name, "model": built.name, "role": built.role, "method": built.method,
                "seed": built.seed, "device": device, "dtype": "float32", "batch_size": batch_size,
                "metric": name, "value": math.nan if value is None else float(value), "unit": metric(name).unit,
                "ci_low": ci[0], "ci_high": ci[1], "n": n, "status": status, "error": error}

    def model_rows(self, built: Built) -> list[dict[str, Any]]:
        logits = predict_logits(built.module, self.data.x_test)
        rows = []
        for name, est in (("accuracy", quality.accuracy(logits, self.data.y_test)),
                          ("teacher_agreement", quality.teacher_agreement(logits, self.teacher_logits)),
                          ("kl_to_teacher", quality.kl_to_teacher(logits, self.teacher_logits))):
            rows.append(self._row(built, name, est.value, ci=(est.ci_low, est.ci_high), n=est.n))
        rows.append(self._row(built, "params", size.count_params(built.module)))
        rows.append(self._row(built, "params_nonzero", size.count_nonzero_params(built.module)))
        rows.append(self._row(built, "size_bytes", size.serialized_size_bytes(built.module)))
        try:
            flops = size.flops_per_sample(built.module, self.data.x_test[:1])
            rows.append(self._row(built, "flops", flops))
        except Exception as exc:  # an op the counter does not know: absent, with the reason
            rows.append(self._row(built, "flops", None, status="error", error=f"{type(exc).__name__}: {exc}"[:500]))
        if built.train_seconds is None:
            rows.append(self._row(built, "train_seconds", None, status="skipped", error="loaded from a checkpoint"))
        else:
            rows.append(self._row(built, "train_seconds", built.train_seconds))
        return rows

    def speed_rows(self, built: Built, device: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
        measure = self.suite.measure
        per_batch = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms",
                     "throughput_sps", "peak_memory_bytes")
        if device.startswith("cuda") and not torch.cuda.is_available():
            reason = f"{device} is not available on this host"
            results = [BatchResult(b, "skipped", reason) for b in measure.batch_sizes]
            threads = None
        else:
            try:
                threads, results = measure_isolated(built.module, self.data.input_shape, list(measure.batch_sizes),
                                                    device, measure.threads, measure.latency.settings())
            except Exception as exc:  # the worker crashed or could not start
                reason = f"measurement process failed: {type(exc).__name__}: {exc}".splitlines()[0][:500]
                results = [BatchResult(b, "error", reason) for b in measure.batch_sizes]
                threads = None
        rows, samples = [], []
        gpu_metrics = ("gpu_util_pct", "gpu_power_w", "energy_j_per_sample")
        for res in results:
            gpu_reason = (f"GPU telemetry applies to cuda devices, not {device}" if not device.startswith("cuda")
                          else "NVML telemetry is not implemented yet")
            rows += [self._row(built, m, None, batch_size=res.batch_size, device=device, status="skipped",
                               error=gpu_reason) for m in gpu_metrics]
            if res.status != "ok":
                rows += [self._row(built, m, None, batch_size=res.batch_size, device=device, status=res.status,
                                   error=res.error) for m in per_batch]
                continue
            st = res.stats
            kw = {"batch_size": res.batch_size, "device": device, "n": st["n"]}
            rows += [self._row(built, "latency_p50_ms", st["p50_ms"], ci=(st["ci_low_ms"], st["ci_high_ms"]), **kw),
                     self._row(built, "latency_p90_ms", st["p90_ms"], **kw),
                     self._row(built, "latency_p99_ms", st["p99_ms"], **kw),
                     self._row(built, "latency_mean_ms", st["mean_ms"], **kw),
                     self._row(built, "throughput_sps", st["throughput_sps"], **kw),
                     self._row(built, "peak_memory_bytes", res.memory_bytes, batch_size=res.batch_size, device=device)]
            samples += [{"model": built.name, "seed": built.seed, "device": device, "dtype": "float32",
                         "batch_size": res.batch_size, "iteration": i, "latency_ms": s}
                        for i, s in enumerate(res.samples_ms)]
        return rows, samples, threads


def load_dataset(suite: Suite) -> Dataset:
    return DATASETS.get(suite.dataset.name)(seed=suite.dataset.seed, **suite.dataset.params)


def run_suite(suite: Suite, results_dir: Path, cache: ModelCache | None, log: Log = _stderr) -> RunWriter:
    """Run every cell of ``suite``; returns the writer of the finished run directory."""
    suite_dir = suite.source.parent if suite.source else None
    with extra_sys_path(suite_dir):
        manifest = {"suite": suite.resolved(), "suite_name": suite.name, "suite_hash": suite.content_hash(),
                    "suite_file": str(suite.source) if suite.source else None,
                    "hardware": fingerprint(suite.measure.threads), "harness_version": harness.__version__,
                    "git_commit": git_commit()}
        writer = RunWriter.create(results_dir, suite.name, manifest)
        log(f"run {writer.run_id}: {writer.run_dir}")
        try:
            _run(suite, writer, cache, log)
        except BaseException as exc:
            writer.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                          error=f"{type(exc).__name__}: {exc}"[:500])
            raise
    return writer


def _run(suite: Suite, writer: RunWriter, cache: ModelCache | None, log: Log) -> None:
    log(f"dataset {suite.dataset.name}")
    data = load_dataset(suite)
    log(f"  {len(data.x_train)} train / {len(data.x_test)} test, input {data.input_shape}, {data.num_classes} classes")
    log(f"build ({suite.build.threads} thread{'s' if suite.build.threads > 1 else ''})")
    builder = Builder(suite, data, cache, log)
    with torch_threads(suite.build.threads):
        teacher = builder.teacher()
        models = [teacher, *builder.students(teacher)]
    log("measure")
    measurer = Measurer(suite, data, predict_logits(teacher.module, data.x_test))
    failed = 0
    for built in models:
        rows = measurer.model_rows(built)
        samples: list[dict[str, Any]] = []
        for device in suite.measure.devices:
            device_rows, device_samples, threads = measurer.speed_rows(built, device)
            if threads is not None:
                writer.manifest["hardware"]["threads"] = threads
            rows += device_rows
            samples += device_samples
        writer.append(rows, samples)
        failed += sum(r["status"] == "error" for r in rows)
        log(f"  {built.name} (seed {built.seed}): {len(rows)} rows" + (f", {failed} errors" if failed else ""))
    writer.finish("complete" if not failed else "complete_with_errors", failed_rows=failed)

