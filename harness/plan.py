"""What a run does, decided before anything is built: its jobs, their measure cells, and a shard's share.

A *job* is one model of one seed: ``(model, seed)``, the teacher first, then
each student in each seed (seeds outermost), the order the local executor
runs them in. A job's *cells* are the suite's device matrix, every
``(device, threads, dtype, backend, seq_len)`` of ``measure.devices ×
measure.threads × measure.dtypes`` × the model's backends (``measure.backends``
or a student's own) × the sequence lengths of token inputs; each cell has a
row for every per-batch-size metric; and each of ``measure.scenarios``
(closed-loop ``single_stream`` by default; ``offline`` and ``server`` load a
model with queries, :mod:`harness.measure.serving`) is a cell of its own.

Sharding splits the jobs, not the cells: a job's build (its training) is
the costly part and one machine should not repeat another's, and a model's
rows are written all at once, so resume and merge keep working per job.
Job ``i`` of the plan goes to shard ``i mod N`` (round robin): stable for a
given suite (the plan order depends on the suite alone, and ``harness merge``
refuses shards of different suites) and balanced to within one job, which a
hash of the name mod N is not for the handful of jobs a suite has.

>>> shard = Shard.parse("2/3")
>>> shard.select([("teacher", 0), ("a", 0), ("b", 0), ("c", 0)])
[('a', 0)]
>>> dtype_plan("float32", ["float32", "bfloat16"])
{'float32': 'float32', 'bfloat16': 'bfloat16'}
>>> dtype_plan("int8", ["float32", "bfloat16"])
{'float32': 'int8', 'bfloat16': None}
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.errors import HarnessError

Job = tuple[str, int]
T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """Where and how one model is timed: a device, an intra-op thread count (None: torch's default), a dtype,
    a backend (eager, torchscript, export, compile, onnx), for token inputs a sequence length, and the
    scenario (single_stream: closed-loop timing; offline, server: under load, measure.scenarios)."""

    device: str
    threads: int | None
    dtype: str
    backend: str = "eager"
    seq_len: int | None = None
    scenario: str = "single_stream"

    def label(self) -> str:
        threads = "default threads" if self.threads is None else f"{self.threads} thread{'s' * (self.threads != 1)}"
        extra = ("" if self.backend == "eager" else f", {self.backend}") + \
            ("" if self.seq_len is None else f", seq {self.seq_len}") + \
            ("" if self.scenario == "single_stream" else f", {self.scenario}")
        return f"{self.device}, {threads}, {self.dtype}{extra}"

    def columns(self) -> dict[str, Any]:
        """The cell's values of the result columns that tell cells apart (:data:`VARIANT_COLUMNS`)."""
        return {name: getattr(self, name) for name in VARIANT_COLUMNS}


#: the result columns, besides model, metric, seed and batch size, that tell one measured cell from another:
#: the fields of :class:`Cell`, in order
VARIANT_COLUMNS = tuple(field.name for field in dataclasses.fields(Cell))


def cells(measure: Any, backends: Sequence[str] | None = None, seq_lens: Sequence[int | None] = (None,)) -> list[Cell]:
    """Every (device, threads, dtype, backend, seq_len, scenario) of a :class:`~harness.suite.MeasureSpec`,
    devices outermost; ``backends`` default to ``measure.backends`` (a student may name its own)."""
    return [Cell(*combo) for combo in itertools.product(measure.devices, measure.thread_counts, measure.dtypes,
                                                         backends or measure.backends, seq_lens,
                                                         measure.scenario_names)]


def jobs(resolved: Mapping[str, Any]) -> list[Job]:
    """The (model, seed) jobs of a resolved suite (``Suite.resolved()``, or a manifest's ``suite``) in run order."""
    teacher = resolved["teacher"]
    return [(teacher["name"], teacher["seed"])] + [(s["name"], seed) for seed in resolved["seeds"]
                                                   for s in resolved["students"]]


def dtype_plan(built_dtype: str, dtypes: Sequence[str]) -> dict[str, str | None]:
    """For each requested dtype, the dtype the model is measured in, or None where that cell is skipped.

    A float32 model is cast to each requested dtype. A model whose method fixed
    its dtype (int8 from quantize, float16 from precision) is measured once, as
    built: under its own dtype if the suite lists it, else under the first one.
    """
    if built_dtype == "float32":
        return {d: d for d in dtypes}
    home = built_dtype if built_dtype in dtypes else dtypes[0]
    return {d: (built_dtype if d == home else None) for d in dtypes}


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: ``harness run SUITE --shard 2/4``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise HarnessError(f"--shard {text!r}: expected I/N, e.g. 1/4 (shards are numbered 1 to N)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise HarnessError(f"--shard {text}: I must be between 1 and N (shards are numbered 1 to N)")
        return cls(index, count)

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's share of ``items``: every N-th, starting at the I-th."""
        return [item for position, item in enumerate(items) if position % self.count == self.index - 1]

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
