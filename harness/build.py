"""The build phase: the teacher once, each student once per seed, through the model cache.

A build that fails (an exception in the method, a checkpoint that does not fit)
is returned as a :class:`Built` with ``error`` set; the run records it and goes on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.cache import ModelCache, cache_key
from harness.data.base import Dataset
from harness.methods import BuildContext, get_method
from harness.methods.base import TeacherOutputs
from harness.models import ARCHITECTURES
from harness.models.checkpoint import load_weights
from harness.suite import Suite

Log = Callable[[str], None]


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


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def make_model(arch: str, params: dict[str, Any], data: Dataset, seed: int) -> nn.Module:
    """A freshly initialised architecture (initialisation seeded by ``seed``)."""
    torch.manual_seed(seed)
    return ARCHITECTURES.get(arch)(input_shape=data.input_shape, num_classes=data.num_classes, **params)


class Builder:
    def __init__(self, suite: Suite, data: Dataset, cache: ModelCache | None, log: Log):
        self.suite, self.data, self.cache, self.log = suite, data, cache, log
        self.dataset_spec = suite.dataset.model_dump(mode="json")
        self.threads = suite.build.threads
        self.outputs = TeacherOutputs()

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
        method = "checkpoint" if spec.checkpoint is not None else "train"
        try:
            model = make_model(spec.arch, spec.params, self.data, spec.seed)
            if spec.checkpoint is not None:
                load_weights(model, Path(spec.checkpoint))
                self.log(f"  {spec.name}: loaded {spec.checkpoint}")
                return Built(spec.name, "teacher", method, spec.seed, model.eval())
            recipe = get_method("train")
            key = cache_key(role="teacher", dataset=self.dataset_spec, arch=spec.arch, params=spec.params,
                            method={"name": "train", "params": spec.train}, seed=spec.seed, threads=self.threads)
            ctx = BuildContext(model, self.data, spec.seed, spec.name)
            build = functools.partial(recipe.build, ctx, recipe.params.model_validate(spec.train))
            module, seconds, cached = self._cached_build(key, model, build, spec.name)
            return Built(spec.name, "teacher", method, spec.seed, module, seconds, cached, key)
        except Exception as exc:  # recorded as the teacher's rows; students that need it fail with it
            self.log(f"  {spec.name}: FAILED {one_line(exc)}")
            return Built(spec.name, "teacher", method, spec.seed, None, error=f"build failed: {one_line(exc)}")

    def student(self, spec: Any, seed: int, teacher: Built) -> Built:
        label = f"{spec.name} (seed {seed})"
        try:
            found = get_method(spec.method.name)
            if found.uses_teacher and teacher.module is None:
                return Built(spec.name, "student", spec.method.name, seed, None,
                             error=f"not built: {spec.method.name} needs the teacher, whose {teacher.error}")
            model = make_model(spec.arch, spec.params, self.data, seed)
            key = cache_key(role="student", dataset=self.dataset_spec, arch=spec.arch, params=spec.params,
                            method=spec.method.model_dump(mode="json"), seed=seed, threads=self.threads,
                            teacher=teacher.key if found.uses_teacher else None)
            ctx = BuildContext(model, self.data, seed, label, teacher.module if found.uses_teacher else None,
                               self.outputs)
            build = functools.partial(found.build, ctx, found.params.model_validate(spec.method.params))
            module, seconds, cached = self._cached_build(key, model, build, label)
            return Built(spec.name, "student", spec.method.name, seed, module, seconds, cached, key)
        except Exception as exc:  # one student's failure is its own row, not the end of the run
            self.log(f"  {label}: FAILED {one_line(exc)}")
            return Built(spec.name, "student", spec.method.name, seed, None, error=f"build failed: {one_line(exc)}")

    def students(self, teacher: Built, skip: Container[tuple[str, int]] = ()) -> Iterator[Built]:
        """Each student once per seed, seeds outermost, except those in ``skip`` (name, seed)."""
        for seed in self.suite.seeds:
            for spec in self.suite.students:
                if (spec.name, seed) not in skip:
                    yield self.student(spec, seed, teacher)
