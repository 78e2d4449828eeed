"""Measurements of one model: latency, memory, size and FLOPs.

Every function here is a pure function of an ``nn.Module`` and an example
input; global state they touch (threads, RNG seeds, grad mode) is set and
restored in context managers (:mod:`harness.measure.threads`). Isolation in a
fresh process is the runner's job, not this package's.

- :mod:`harness.measure.latency`: raw per-iteration timings and their statistics.
- :mod:`harness.measure.memory`: deterministic tensor memory of one forward.
- :mod:`harness.measure.size`: parameter counts, serialized size, FLOPs.
- :mod:`harness.measure.threads`: thread-count and seed context managers.
"""
