"""The architecture contract and registry.

An architecture is a callable registered in :data:`ARCHITECTURES` that takes
``input_shape`` (a tuple, without the batch dimension) and ``num_classes``
plus its own keyword parameters (validated from its signature) and returns an
``nn.Module`` mapping a float batch of shape (B, *input_shape) to logits (B, num_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic

from harness.registry import Registry, params_model

ARCHITECTURES: Registry = Registry("architecture")
INJECTED = ("input_shape", "num_classes")


def arch_params(fn: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """The parameters a suite gives architecture ``fn``: its keywords, less what the harness passes itself."""
    return params_model(fn, skip=INJECTED)
