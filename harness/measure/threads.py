"""Context managers for the global state a measurement depends on.

>>> import torch
>>> before = torch.get_num_threads()
>>> with torch_threads(1) as n:
...     n, torch.get_num_threads()
(1, 1)
>>> torch.get_num_threads() == before
True
>>> with seeded(0):
...     a = torch.rand(2)
>>> with seeded(0):
...     b = torch.rand(2)
>>> bool(torch.equal(a, b))
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Set torch's intra-op thread count to ``n`` and restore it afterwards.

    ``None`` leaves the count as it is. Inter-op threads are not touched
    (torch allows setting them only once per process). Yields the effective
    intra-op thread count, which is what a measurement should record.
    """
    if n is not None and n < 1:
        raise ValueError(f"thread count must be >= 1 or None, got {n}")
    previous = torch.get_num_threads()
    try:
        if n is not None and n != previous:
            torch.set_num_threads(n)
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python's ``random``, NumPy's global RNG and torch; restore their states afterwards.

    CUDA generators are saved and restored when CUDA is already initialised.
    When it is not, ``torch.manual_seed`` queues a lazy CUDA seed that applies
    if CUDA is first initialised inside the block (so GPU work there is seeded
    too); if CUDA is first initialised after the block, it starts from ``seed``
    rather than from its default, which is still deterministic. Initialising
    CUDA just to save its state would put a CUDA context into CPU-only runs.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
