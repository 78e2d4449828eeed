"""The build phase: the teacher once, each student once per seed, through the model cache.

A build that fails (an exception in the method, a checkpoint that does not fit)
is returned as a :class:`Built` with ``error`` set; the run records it and goes on.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import torch
from torch import nn

from harness.cache import ModelCache, cache_key, content_digest, file_digest
from harness.data.base import DATASETS, Dataset, dataset_params
from harness.errors import one_line
from harness.measure.size import model_dtype
from harness.methods import BuildContext, get_method
from harness.methods.base import TeacherOutputs, needs_teacher
from harness.models import ARCHITECTURES
from harness.models.base import arch_params
from harness.models.checkpoint import load_weights
from harness.models.programs import load_program
from harness.paths import FolderOrId
from harness.registry import is_import_path
from harness.suite import StudentSpec, Suite

Log = Callable[[str], None]


def reads_other_students(spec: StudentSpec) -> bool:
    """Whether a step of the student's method reads the models of the students before it (``uses_models``,
    multi_teacher): such a student is built after them, with them."""
    return any(get_method(step.name).uses_models for step in spec.method)


@dataclass(frozen=True)
class BuildPlan:
    """The students a run builds, seeds outermost and in the suite's order (``order``). ``first`` need only
    the teacher (an executor may build them in any order, in parallel); ``later`` read the students before
    them in their seed and are built after those, in order."""

    order: tuple[tuple[StudentSpec, int], ...]

    @property
    def later(self) -> tuple[tuple[StudentSpec, int], ...]:
        return tuple(job for job in self.order if reads_other_students(job[0]))

    @property
    def first(self) -> tuple[tuple[StudentSpec, int], ...]:
        return tuple(job for job in self.order if not reads_other_students(job[0]))


def build_plan(suite: Suite, unmeasured: Container[tuple[str, int]] = ()) -> BuildPlan:
    """What to build when the (name, seed) jobs in ``unmeasured`` are not measured here (already in a
    resumed run, or another shard's): those are not built either, unless a student measured here reads
    them (``uses_models``: it needs every student before it in its seed)."""
    needed: set[tuple[str, int]] = set()
    for seed in suite.seeds:
        for position, spec in enumerate(suite.students):
            if (spec.name, seed) not in unmeasured and reads_other_students(spec):
                needed |= {(earlier.name, seed) for earlier in suite.students[:position]}
    return BuildPlan(tuple((spec, seed) for seed in suite.seeds for spec in suite.students
                           if (spec.name, seed) not in unmeasured or (spec.name, seed) in needed))


@dataclass
class Built:
    """A model ready to measure (or the reason it could not be built), and how it came to be."""

    name: str
    role: str
    method: str
    seed: int
    module: nn.Module | None
    train_seconds: float | None = None
    cached: bool = False
    key: str | None = None
    error: str = ""
    dtype: str = "float32"
    #: one entry per method step: {"step": name, "seconds": build time, "cached": bool}
    steps: list[dict[str, Any]] = field(default_factory=list)


def dtype_label(model: nn.Module) -> str:
    """The results' dtype column: ``float32``, ``float16``, ``bfloat16``, or ``int8`` for quantized modules."""
    if any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules()):
        return "int8"
    return str(model_dtype(model)).removeprefix("torch.")


def same_structure(before: nn.Module, after: nn.Module) -> bool:
    """True when ``after`` has ``before``'s module types and state-dict shapes and dtypes (so its
    weights load into ``before``'s architecture)."""
    if before is after:
        return True
    kinds = [type(m) for m in before.modules()] == [type(m) for m in after.modules()]
    a, b = before.state_dict(), after.state_dict()
    return kinds and a.keys() == b.keys() and all(
        isinstance(a[k], torch.Tensor) and a[k].shape == b[k].shape and a[k].dtype == b[k].dtype for k in a)


def make_model(arch: str, params: dict[str, Any], data: Dataset, seed: int) -> nn.Module:
    """A freshly initialised architecture (initialisation seeded by ``seed``)."""
    torch.manual_seed(seed)
    return ARCHITECTURES.get(arch)(input_shape=data.input_shape, num_classes=data.num_classes, **params)


def load_model(arch: str | None, params: dict[str, Any], checkpoint: str, data: Dataset, seed: int) -> nn.Module:
    """A model from a checkpoint: weights loaded strictly into ``arch``, or (no ``arch``) the program in the file."""
    if arch is None:
        return load_program(Path(checkpoint))
    return load_weights(make_model(arch, params, data, seed), Path(checkpoint))


def dataset_key(suite: Suite) -> dict[str, Any]:
    """The dataset's part of every cache key: its resolved spec and, for each file it reads (each parameter
    whose value is a path), the sha256 of the file's content (a folder's: :func:`content_digest`), so that a
    changed data file rebuilds and the same content rewritten does not. Hashed once per run (a Builder's)."""
    spec = suite.dataset.model_dump(mode="json")
    params = dataset_params(DATASETS.get(suite.dataset.name)).model_validate(suite.dataset.params)
    files = {name: content_digest(Path(value)) if isinstance(value, PurePath)
             else [content_digest(Path(item)) for item in value]
             for name, value in params if isinstance(value, PurePath) or (
                 isinstance(value, (list, tuple)) and value and all(isinstance(v, PurePath) for v in value))}
    return {**spec, "files": files} if files else spec


def arch_key(arch: str, params: dict[str, Any]) -> dict[str, Any]:
    """An architecture's parameters as the cache keys see them: with the sha256 of each model folder a
    folder-or-id parameter names (``arch: hf``'s ``model``: :data:`harness.paths.FOLDER_OR_ID`), so that
    changed weights rebuild; a hub id keys by its name."""
    fields = arch_params(ARCHITECTURES.get(arch)).model_fields
    folders = {name: content_digest(Path(value)) for name, value in params.items()
               if name in fields and any(isinstance(m, FolderOrId) for m in fields[name].metadata)
               and isinstance(value, str) and Path(value).is_absolute() and Path(value).is_dir()}
    return {**params, "folders": folders} if folders else params


class Builder:
    def __init__(self, suite: Suite, data: Dataset, cache: ModelCache | None, log: Log,
                 dataset_spec: dict[str, Any] | None = None):
        self.suite, self.data, self.cache, self.log = suite, data, cache, log
        #: the dataset's part of the cache keys, data file digests included (given: computed by another Builder)
        self.dataset_spec = dataset_key(suite) if dataset_spec is None else dataset_spec
        self.threads = suite.build.threads
        self.outputs = TeacherOutputs()
        #: seed -> name -> built model, for methods that learn from several (``ctx.models``)
        self.built_models: dict[int, dict[str, nn.Module]] = {}
        self.built_keys: dict[int, dict[str, str | None]] = {}
        self._arch_keys: dict[str, dict[str, Any]] = {}

    def keyed(self, spec: Any) -> dict[str, Any]:
        """A teacher's or student's parameters as its cache key sees them (:func:`arch_key`), each model folder
        hashed once per run."""
        arch, params = spec.arch, spec.params
        if arch is None or is_import_path(arch):
            return params
        known = json.dumps([arch, params], sort_keys=True, default=str)
        if known not in self._arch_keys:
            self._arch_keys[known] = arch_key(arch, params)
        return self._arch_keys[known]

    def _cached_build(self, key: str | None, model: nn.Module, build: Callable[[], nn.Module],
                      label: str) -> tuple[nn.Module, float, bool, bool]:
        """(model, seconds to build, from the cache, structure kept): a model whose structure the build
        changed (pruned channels, int8, float16) is not cached, since the cache holds weights only."""
        meta = self.cache.load(key, model) if self.cache and key else None
        if meta is not None:
            self.log(f"  {label}: from cache ({meta['train_seconds']:.1f} s to build)")
            return model.eval(), float(meta["train_seconds"]), True, True
        self.log(f"  {label}: building")
        start = time.perf_counter()
        built = build()
        seconds = time.perf_counter() - start
        kept = same_structure(model, built)
        if self.cache and key and kept:
            self.cache.save(key, built, {"label": label, "train_seconds": seconds})
        return built.eval(), seconds, False, kept

    def teacher(self) -> Built:
        spec = self.suite.teacher
        method = "checkpoint" if spec.checkpoint is not None else "pretrained" if spec.pretrained else "train"
        try:
            if spec.checkpoint is not None:
                model = load_model(spec.arch, spec.params, spec.checkpoint, self.data, spec.seed)
                self.log(f"  {spec.name}: loaded {spec.checkpoint}")
                key = cache_key(role="teacher", checkpoint=file_digest(Path(spec.checkpoint)), arch=spec.arch,
                                params=self.keyed(spec))
                return Built(spec.name, "teacher", method, spec.seed, model.eval(), key=key)
            assert spec.arch is not None  # the suite requires it with a train recipe
            model = make_model(spec.arch, spec.params, self.data, spec.seed)
            if spec.pretrained:
                self.log(f"  {spec.name}: pretrained {spec.arch}")
                key = cache_key(role="teacher", pretrained=True, arch=spec.arch, params=self.keyed(spec))
                return Built(spec.name, "teacher", method, spec.seed, model.eval(), key=key)
            recipe = get_method("train")
            key = cache_key(role="teacher", dataset=self.dataset_spec, arch=spec.arch, params=self.keyed(spec),
                            method={"name": "train", "params": spec.train}, seed=spec.seed, threads=self.threads)
            ctx = BuildContext(model, self.data, spec.seed, spec.name)
            build = functools.partial(recipe.build, ctx, recipe.params.model_validate(spec.train))
            module, seconds, cached, _ = self._cached_build(key, model, build, spec.name)
            return Built(spec.name, "teacher", method, spec.seed, module, seconds, cached, key)
        except Exception as exc:  # recorded as the teacher's rows; students that need it fail with it
            self.log(f"  {spec.name}: FAILED {one_line(exc)}")
            return Built(spec.name, "teacher", method, spec.seed, None, error=f"build failed: {one_line(exc)}")

    def student(self, spec: StudentSpec, seed: int, teacher: Built) -> Built:
        """One student: its starting model through each step of its method pipeline."""
        label, method = f"{spec.name} (seed {seed})", spec.method_label
        try:
            steps = [get_method(step.name) for step in spec.method]
            params = [found.params.model_validate(step.params) for step, found in zip(spec.method, steps, strict=True)]
            distils = [needs_teacher(found, p) for found, p in zip(steps, params, strict=True)]
            if any(distils) and teacher.module is None:
                return Built(spec.name, "student", method, seed, None,
                             error=f"not built: {method} needs the teacher, whose {teacher.error}")
            if spec.init == "teacher":
                if teacher.module is None:
                    return Built(spec.name, "student", method, seed, None,
                                 error=f"not built: it starts from the teacher, whose {teacher.error}")
                model, key = copy.deepcopy(teacher.module), teacher.key
            elif spec.checkpoint is not None:
                model = load_model(spec.arch, spec.params, spec.checkpoint, self.data, seed)
                # weights for a known architecture cache like any other start; a program is rebuilt each run
                key = cache_key(checkpoint=file_digest(Path(spec.checkpoint))) if spec.arch is not None else None
            else:
                assert spec.arch is not None
                model, key = make_model(spec.arch, spec.params, self.data, seed), None
            models = {teacher.name: teacher.module} if teacher.module is not None else {}
            models.update(self.built_models.get(seed, {}))
            # a program (TorchScript, torch.export) is no known architecture: the cache cannot hold its steps
            cacheable = spec.checkpoint is None or spec.arch is not None
            total, all_cached, timings = 0.0, True, []
            for index, (step, found) in enumerate(zip(spec.method, steps, strict=True)):
                key = cache_key(role="student", dataset=self.dataset_spec, arch=spec.arch, params=self.keyed(spec),
                                init=spec.init, previous=key, method=step.model_dump(mode="json"), seed=seed,
                                threads=self.threads, teacher=teacher.key if distils[index] else None,
                                models=self.built_keys.get(seed) if found.uses_models else None)
                ctx = BuildContext(model, self.data, seed, label, teacher.module if distils[index] else None,
                                   self.outputs, models)
                build = functools.partial(found.build, ctx, params[index])
                step_label = label if len(steps) == 1 else f"{label} step {index + 1} {step.name}"
                # a step that changes the model's structure (pruned channels, int8, float16) is rebuilt each run:
                # the cache stores weights for a known architecture, never pickled modules
                model, seconds, cached, kept = self._cached_build(key if cacheable else None, model, build,
                                                                  step_label)
                cacheable = cacheable and kept
                total, all_cached = total + seconds, all_cached and cached
                timings.append({"step": step.name, "seconds": round(seconds, 4), "cached": cached})
            self.built_models.setdefault(seed, {})[spec.name] = model
            self.built_keys.setdefault(seed, {})[spec.name] = key if cacheable else None
            return Built(spec.name, "student", method, seed, model, total, all_cached, key if cacheable else None,
                         dtype=dtype_label(model), steps=timings)
        except Exception as exc:  # one student's failure is its own row, not the end of the run
            self.log(f"  {label}: FAILED {one_line(exc)}")
            return Built(spec.name, "student", method, seed, None, error=f"build failed: {one_line(exc)}")

    def students(self, teacher: Built, plan: BuildPlan | None = None) -> Iterator[Built]:
        """Each student of ``plan`` (default: every student once per seed), in its order."""
        for spec, seed in (plan or build_plan(self.suite)).order:
            yield self.student(spec, seed, teacher)
