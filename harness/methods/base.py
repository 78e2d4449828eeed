"""The method contract: how a compression method turns a model into a student.

A method is a function ``fn(ctx: BuildContext, params: SomeParams) -> nn.Module``
registered with :func:`method`; its parameters are a pydantic model (or its
keyword signature), validated when the suite loads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
import torch
from torch import nn

from harness.data.base import Dataset
from harness.errors import HarnessError
from harness.registry import Registry, params_model


@dataclass
class BuildContext:
    """What a method gets: the freshly initialised model, the data, the seed and the teacher."""

    model: nn.Module
    data: Dataset
    seed: int
    name: str
    teacher: nn.Module | None = None
    _teacher_logits: dict[str, torch.Tensor] = field(default_factory=dict)

    def teacher_logits(self) -> torch.Tensor:
        """The teacher's logits on the training set, computed once per teacher and shared."""
        if self.teacher is None:
            raise HarnessError(f"{self.name}: this method needs a teacher")
        if "train" not in self._teacher_logits:
            from harness.train import predict_logits

            self._teacher_logits["train"] = predict_logits(self.teacher, self.data.x_train)
        return self._teacher_logits["train"]


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[BuildContext, Any], nn.Module]
    params: type[pydantic.BaseModel]
    uses_teacher: bool
    summary: str


METHODS: Registry[Any] = Registry("method")


def _as_method(name: str, fn: Callable[..., nn.Module], uses_teacher: bool) -> Method:
    """``fn(ctx, params: Model)`` as it is; ``fn(ctx, *, a=1, b=2)`` gets its keywords from the validated model."""
    summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
    model = params_model(fn, skip=("ctx",))
    build = fn
    if "params" not in inspect.signature(fn).parameters:
        def build(ctx: BuildContext, params: Any) -> nn.Module:
            return fn(ctx, **dict(params))
    return Method(name, build, model, uses_teacher, summary)


def method(name: str, *, uses_teacher: bool = False) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``fn`` as the compression method ``name``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        METHODS.add(name, _as_method(name, fn, uses_teacher))
        return fn

    return decorator


def get_method(name: str) -> Method:
    """The registered method, or a user function named by ``module:attr``.

    A user function declares ``uses_teacher = True`` as an attribute if it distils.
    """
    found = METHODS.get(name)
    if isinstance(found, Method):
        return found
    if not callable(found):
        raise HarnessError(f"method {name!r} is not callable")
    return _as_method(name, found, bool(getattr(found, "uses_teacher", False)))
