"""The architecture contract and registry.

An architecture is a callable registered in :data:`ARCHITECTURES` that takes
``input_shape`` (a tuple, without the batch dimension) and ``num_classes``
plus its own keyword parameters (validated from its signature) and returns an
``nn.Module`` mapping a float batch of shape (B, *input_shape) to logits (B, num_classes).
"""

from __future__ import annotations

from harness.registry import Registry

ARCHITECTURES: Registry = Registry("architecture")
INJECTED = ("input_shape", "num_classes")
