"""The method contract: how a compression method turns a model into a student.

A method is a function ``fn(ctx: BuildContext, params: SomeParams) -> nn.Module``
registered with :func:`method`; its parameters are a pydantic model (or its
keyword signature), validated when the suite loads.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
import torch
from torch import nn

from harness.data.base import Dataset
from harness.doctext import first_sentence
from harness.errors import HarnessError
from harness.registry import Registry, params_model


@dataclass
class TeacherOutputs:
    """The teacher's outputs on the training set, computed once and shared by every student and seed.

    ``seconds`` is what computing them cost; ``users`` are the builds that
    read them, so recomputing them per build would have cost
    ``seconds * (len(users) - 1)`` more (:meth:`saved_seconds`).
    """

    cache: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    users: set[str] = field(default_factory=set)

    def saved_seconds(self) -> float:
        return self.seconds * max(len(self.users) - 1, 0)

    def summary(self) -> dict[str, float | int]:
        return {"seconds": round(self.seconds, 4), "builds_using_them": len(self.users),
                "saved_seconds": round(self.saved_seconds(), 4)}

    def get(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self.cache:
            started = time.perf_counter()
            self.cache[key] = compute()
            self.seconds += time.perf_counter() - started
        return self.cache[key]


@dataclass
class BuildContext:
    """What a method gets.

    ``model``: the model to work on: a freshly initialised architecture, the
    teacher's weights for a student with ``init: teacher``, or the previous
    step's output in a pipeline. ``teacher``: the suite's teacher (eval mode;
    None when the method does not distil). ``models``: every model already
    built in this seed, by name (the teacher, earlier students), for methods
    that learn from several. ``data``, ``seed``, ``name``: as they say.
    """

    model: nn.Module
    data: Dataset
    seed: int
    name: str
    teacher: nn.Module | None = None
    outputs: TeacherOutputs = field(default_factory=TeacherOutputs)
    models: dict[str, nn.Module] = field(default_factory=dict)

    def _need_teacher(self) -> nn.Module:
        if self.teacher is None:
            raise HarnessError(f"{self.name}: this method needs a teacher")
        self.outputs.users.add(self.name)
        return self.teacher

    def teacher_logits(self) -> torch.Tensor:
        """The teacher's logits on the training set, computed once per teacher and shared."""
        teacher = self._need_teacher()
        from harness.train import predict_logits

        return self.outputs.get("logits", lambda: predict_logits(teacher, self.data.x_train))

    def teacher_features(self, module_path: str) -> torch.Tensor:
        """The output of the teacher's submodule ``module_path`` (as in ``named_modules``) on the
        training set, captured with a forward hook, computed once per teacher and path and shared."""
        teacher = self._need_teacher()
        from harness.methods.hooks import capture_outputs

        return self.outputs.get(f"features:{module_path}", lambda: capture_outputs(teacher, module_path,
                                                                                   self.data.x_train))


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[BuildContext, Any], nn.Module]
    params: type[pydantic.BaseModel]
    #: True, False, or a function of the validated params (``lambda p: p.distill``)
    uses_teacher: bool | Callable[[Any], bool]
    summary: str
    #: reads other models built in the seed (``ctx.models``): their cache keys join this step's
    uses_models: bool = False


METHODS: Registry[Any] = Registry("method")


def needs_teacher(found: Method, params: Any) -> bool:
    """Whether this step, with these validated params, reads the teacher."""
    return bool(found.uses_teacher(params) if callable(found.uses_teacher) else found.uses_teacher)


def _as_method(name: str, fn: Callable[..., nn.Module], uses_teacher: bool | Callable[[Any], bool],
               uses_models: bool = False) -> Method:
    """``fn(ctx, params: Model)`` as it is; ``fn(ctx, *, a=1, b=2)`` gets its keywords from the validated model."""
    summary = first_sentence(fn.__doc__)
    model = params_model(fn, skip=("ctx",))
    build = fn
    if "params" not in inspect.signature(fn).parameters:
        def build(ctx: BuildContext, params: Any) -> nn.Module:
            return fn(ctx, **dict(params))
    return Method(name, build, model, uses_teacher, summary, uses_models)


def method(name: str, *, uses_teacher: bool | Callable[[Any], bool] = False,
           uses_models: bool = False) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``fn`` as the compression method ``name``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        METHODS.add(name, _as_method(name, fn, uses_teacher, uses_models))
        return fn

    return decorator


def get_method(name: str) -> Method:
    """The registered method, or a user function named by ``module:attr``.

    A user function declares ``uses_teacher = True`` as an attribute if it distils, and
    ``uses_models = True`` if it reads other built models (``ctx.models``).
    """
    found = METHODS.get(name)
    if isinstance(found, Method):
        return found
    if not callable(found):
        raise HarnessError(f"method {name!r} is not callable")
    return _as_method(name, found, getattr(found, "uses_teacher", False),
                      bool(getattr(found, "uses_models", False)))
