"""Reading a model's intermediate outputs with forward hooks, without touching its code.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
>>> with FeatureTap(net, "0") as tap:
...     _ = net(torch.zeros(5, 4))
>>> tap.output.shape
torch.Size([5, 3])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError


def submodule(model: nn.Module, path: str) -> nn.Module:
    """``model``'s submodule at ``path`` (a name from ``named_modules()``), or a one-line error listing them."""
    modules = dict(model.named_modules())
    if path not in modules:
        names = ", ".join(n for n in modules if n) or "none"
        raise HarnessError(f"no module {path!r} in {type(model).__name__} (modules: {names})")
    return modules[path]


class FeatureTap:
    """A context manager holding the latest output of one submodule (gradients flow through it)."""

    def __init__(self, model: nn.Module, path: str):
        self.module = submodule(model, path)
        self.output: torch.Tensor | None = None
        self._handle: Any = None

    def _hook(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        self.output = output

    def __enter__(self) -> FeatureTap:
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.remove()


@torch.inference_mode()
def capture_outputs(model: nn.Module, path: str, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The outputs of ``model``'s submodule ``path`` on all of ``x`` (eval mode, in batches)."""
    model.eval()
    parts = []
    with FeatureTap(model, path) as tap:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
            assert tap.output is not None
            parts.append(tap.output.detach().clone())
    return torch.cat(parts)
