"""The Ray executor: ``harness run SUITE --executor ray [--address ADDR]`` (``pip install -e '.[ray]'``).

Build phase: the runner builds the teacher here (from the model cache when
it is there); then every student is a Ray task of ``build.threads`` CPUs,
so a machine of C cores trains C / build.threads students at once and a
cluster trains as many as it has cores. Each task gets the teacher and the
dataset through Ray's object store (put once, read by every task) and the
teacher's training-set logits computed once here, and writes its model to
the model cache as the local executor would (same cache keys). A student
whose method reads other students (``uses_models``) is built here after the
others, with exactly the models the local executor would have given it.

Measure phase: one Ray task per cell (device × threads × dtype × backend ×
seq_len), which times every model of the cell in paired rounds
(:mod:`harness.measure.paired`). A cpu cell asks for every CPU of a node (the
cluster's largest nodes), a cuda cell for one GPU (of
``measure.accelerator_type`` where the suite names one), so at most one
measuring task owns a node's CPUs or a GPU at a time. Inside the task the
cell is timed exactly as locally, each model in a fresh process forked from
the task's own fork server (timeout, crash containment). Rows go back to the
runner, and so into the run directory, once every cell is back.

With no address a local Ray instance is started with this machine's CPUs
and shut down at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, install_command, one_line
from harness.executors import Executor
from harness.signals import handlers_kept

if TYPE_CHECKING:
    from harness.build import Builder, BuildPlan, Built
    from harness.measure.paired import GroupResult
    from harness.measurer import Measured, Measurer, PairedCell
    from harness.plan import Cell

ray: Any
try:
    import ray as _ray_module

    ray = _ray_module
except ImportError:  # an optional extra
    ray = None


def _require_ray() -> Any:
    if ray is None:
        raise HarnessError(f"--executor ray needs Ray, an optional extra: {install_command('ray')}")
    return ray


def _build_student(builder_parts: tuple[Any, ...], name: str, seed: int, teacher: Built,
                   logits: Any) -> tuple[Built, list[str], set[str], float]:
    """One student in a Ray task: (built model, its log lines, names that read teacher outputs, their cost)."""
    from harness.build import Builder
    from harness.cache import ModelCache
    from harness.measure.threads import torch_threads
    from harness.registry import extra_sys_path

    suite, data, cache_root, suite_dir, dataset_spec = builder_parts
    lines: list[str] = []
    builder = Builder(suite, data, ModelCache(Path(cache_root)) if cache_root else None, lines.append, dataset_spec)
    if logits is not None:
        builder.outputs.cache["logits"] = logits
    spec = next(s for s in suite.students if s.name == name)
    with extra_sys_path(suite_dir), torch_threads(suite.build.threads):
        built = builder.student(spec, seed, teacher)
    return built, lines, builder.outputs.users, builder.outputs.seconds


def _time_paired(request: Any, payloads: dict[str, tuple[str, bytes]], reference: str | None,
                 twin: bool) -> Any:
    """One cell's paired rounds in a Ray task: every model in its own fresh process, as the local executor does."""
    import dataclasses

    from harness.measure.batch import BatchResult
    from harness.measure.paired import GroupResult
    from harness.measure.serving import measure_cell, scenario_results
    from harness.measurer import device_missing
    from harness.rows import Status

    if request.on_cuda:  # Ray gives the task one GPU and makes it the only one visible
        request = dataclasses.replace(request, device="cuda")
    missing = device_missing(request.device)
    if missing:
        why = f"{missing} (the node Ray chose)"
        absent = scenario_results(request.load, Status.SKIPPED, why) if request.load else \
            [BatchResult(b, Status.SKIPPED, why) for b in request.batch_sizes]
        return GroupResult({label: (None, absent) for label in payloads}, [])
    return measure_cell(request, payloads, reference, twin=twin)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None):
        _require_ray()
        self.address = address
        self._started = False

    def describe(self) -> str:
        return f"ray ({self.address})" if self.address else "ray (local instance)"

    def __enter__(self) -> RayExecutor:
        if not ray.is_initialized():
            with handlers_kept():
                self._init()
        return self

    def _init(self) -> None:
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise HarnessError(f"--executor ray: could not start or join Ray: {one_line(exc)}") from None
        self._started = True

    def __exit__(self, *exc: object) -> None:
        if self._started:
            ray.shutdown()
            self._started = False

    # build phase ---------------------------------------------------------------------------------------------

    def build_students(self, builder: Builder, teacher: Built, plan: BuildPlan) -> list[Built]:
        suite = builder.suite
        first = list(plan.first)
        built = dict(zip([(s.name, seed) for s, seed in first], self._parallel(builder, teacher, first), strict=True))
        for spec, seed in plan.later:  # with the models built before it in the suite's order, as locally
            before = [s.name for s in suite.students[:suite.students.index(spec)]]
            ready = {n: built[n, seed].module for n in before if (n, seed) in built}
            builder.built_models[seed] = {n: module for n, module in ready.items() if module is not None}
            builder.built_keys[seed] = {n: built[n, seed].key for n in before if (n, seed) in built}
            built[spec.name, seed] = builder.student(spec, seed, teacher)
        return [built[spec.name, seed] for spec, seed in plan.order]

    def _parallel(self, builder: Builder, teacher: Built, jobs: list[tuple[Any, int]]) -> list[Built]:
        from harness.build import Built as BuiltModel

        if not jobs:
            return []
        logits, module = None, teacher.module
        if module is not None:  # once here, shared by every task (most students distil from it)
            from harness.train import predict_logits

            logits = builder.outputs.get("logits", lambda: predict_logits(module, builder.data.x_train))
        cache_root = str(builder.cache.root) if builder.cache else None
        suite_dir = builder.suite.source.parent if builder.suite.source else None
        parts = ray.put((builder.suite, builder.data, cache_root, suite_dir, builder.dataset_spec))
        shared_teacher, shared_logits = ray.put(teacher), ray.put(logits)
        task = ray.remote(_build_student).options(num_cpus=builder.suite.build.threads)
        refs = [task.remote(parts, spec.name, seed, shared_teacher, shared_logits) for spec, seed in jobs]
        results = []
        for ref, (spec, seed) in zip(refs, jobs, strict=True):
            try:
                student, lines, users, seconds = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the task's worker died (a method's own errors come back as rows)
                reason = f"build task failed: {one_line(exc)}"
                builder.log(f"  {spec.name} (seed {seed}): FAILED {reason}")
                results.append(BuiltModel(spec.name, "student", spec.method_label, seed, None, error=reason))
                continue
            for line in lines:
                builder.log(line)
            builder.outputs.users |= users
            builder.outputs.seconds += seconds
            results.append(student)
        return results

    # measure phase -------------------------------------------------------------------------------------------

    def _cpu_per_node(self) -> float:
        """Every CPU of the cluster's largest nodes: a cpu cell owns a whole node."""
        return max(float(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive"))

    def _options(self, measurer: Measurer, cell: Cell) -> dict[str, Any] | str:
        """Ray resources of one cell's task, or why no node of the cluster can run it."""
        if not cell.device.startswith("cuda"):
            return {"num_cpus": self._cpu_per_node()}
        accelerator = measurer.suite.measure.accelerator_type
        resources = ray.cluster_resources()
        if not resources.get("GPU"):
            return f"{cell.device}: the Ray cluster has no GPU"
        if accelerator and not any(key == f"accelerator_type:{accelerator}" for key in resources):
            return f"{cell.device}: the Ray cluster has no GPU of accelerator type {accelerator}"
        return {"num_cpus": 1, "num_gpus": 1, **({"accelerator_type": accelerator} if accelerator else {})}

    def measure(self, measurer: Measurer, models: list[Built], teacher: Built | None = None) -> Iterator[Measured]:
        """Each paired cell is one Ray task; the models' rows come once every cell is back."""
        yield from measurer.measure_all(models, teacher, self._paired(measurer, models, teacher))

    def _paired(self, measurer: Measurer, models: list[Built], teacher: Built | None,
                ) -> Iterator[tuple[PairedCell, GroupResult]]:
        from harness.measure.paired import GroupResult
        from harness.measure.session import to_payload

        task = ray.remote(_time_paired)
        pending: dict[Any, PairedCell] = {}
        for paired in measurer.paired_cells(models, teacher, here=False):
            options = self._options(measurer, paired.cell) if paired.members else {}
            if isinstance(options, str):  # no node can run it: its members are skipped with the reason
                yield dataclasses.replace(paired, members=[], skipped=paired.skipped + [
                    (b, options) for b in paired.members]), GroupResult({}, [])
                continue
            if not paired.members:
                yield paired, GroupResult({}, [])
                continue
            payloads = {label: to_payload(module) for label, module in measurer.modules(paired).items()}
            reference = measurer.reference_label(paired)
            ref = task.options(**options).remote(measurer.request(paired.cell), payloads, reference,
                                                 measurer.twin(paired))
            pending[ref] = paired
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                paired = pending.pop(ref)
                try:
                    yield paired, ray.get(ref)
                except ray.exceptions.RayError as exc:  # the task or its worker died
                    reason = f"measurement task failed: {one_line(exc)}"
                    yield dataclasses.replace(paired, members=[], skipped=paired.skipped + [
                        (b, reason) for b in paired.members]), GroupResult({}, [])
