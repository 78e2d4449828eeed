"""The architecture contract and registry.

An architecture is a callable registered in :data:`ARCHITECTURES` that takes
``input_shape`` (a tuple, without the batch dimension) and ``num_classes``
plus its own keyword parameters (validated from its signature) and returns an
``nn.Module`` mapping a float batch of shape (B, *input_shape) to logits (B, num_classes).

An architecture whose parameters can fail to fit a dataset in ways its own parameter types cannot see
(a Hugging Face model's vocabulary against the dataset's tokenizer) registers a check in
:data:`FIT_CHECKS`: ``harness validate`` and a run call it with the loaded dataset before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic

from harness.registry import Registry, params_model

ARCHITECTURES: Registry = Registry("architecture")
INJECTED = ("input_shape", "num_classes")
#: architecture name -> ``check(data, **params)``: what keeps the architecture from fitting the dataset, as one
#: line, or None (see :func:`fit_check`)
FIT_CHECKS: dict[str, Callable[..., str | None]] = {}


def fit_check(name: str) -> Callable[[Callable[..., str | None]], Callable[..., str | None]]:
    """Register ``check(data, **params)`` as what says whether architecture ``name`` fits a dataset."""
    def decorator(check: Callable[..., str | None]) -> Callable[..., str | None]:
        FIT_CHECKS[name] = check
        return check
    return decorator


def arch_params(fn: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """The parameters a suite gives architecture ``fn``: its keywords, less what the harness passes itself."""
    return params_model(fn, skip=INJECTED)
