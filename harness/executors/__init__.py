"""Executors: who builds the students and times the cells of a run.

The runner owns the run directory, the teacher and the order of the rows; an
executor only does the two phases' work:

- ``build_students(builder, teacher, plan)``: every student of the
  :class:`~harness.build.BuildPlan` (one function, :func:`~harness.build.build_plan`,
  decides what is built and what waits for whom), as :class:`~harness.build.Built` objects.
- ``measure(measurer, models, teacher)``: for each model, all its rows,
  yielded once its cells are done, so the runner writes them at once. The
  models of a cell are timed together, in paired rounds
  (:mod:`harness.measure.paired`), with the teacher as their reference.

:class:`LocalExecutor` does both in this process, one cell after another,
each model of a cell in its own fresh process from the fork server.
``RayExecutor`` (:mod:`harness.executors.ray`, ``pip install -e '.[ray]'``) builds
the students as parallel Ray tasks and times each cell's paired rounds in a
Ray task that owns its node's CPUs or a GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.build import Builder, BuildPlan, Built
    from harness.measurer import Measured, Measurer


class Executor:
    """The in-process defaults; a subclass replaces what it runs elsewhere. A context manager:
    whatever it starts (a Ray instance) lives for the ``with`` block."""

    name = "local"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def describe(self) -> str:
        return self.name

    def prepare(self) -> None:
        """Called first in a run; a chance to start what the measure phase needs."""

    def build_students(self, builder: Builder, teacher: Built, plan: BuildPlan) -> list[Built]:
        return list(builder.students(teacher, plan))

    def measure(self, measurer: Measurer, models: list[Built], teacher: Built | None = None) -> Iterator[Measured]:
        cells = measurer.paired_cells(models, teacher)
        yield from measurer.measure_all(models, teacher, ((paired, measurer.time_paired(paired)) for paired in cells))


class LocalExecutor(Executor):
    """Everything on this host; each model of a cell timed in its own fresh process forked from a server."""

    def prepare(self) -> None:
        from harness.measure.worker import start_server

        start_server()  # its start-up (importing torch) overlaps loading data and training


def make_executor(name: str, address: str | None = None) -> Executor:
    """``local`` or ``ray`` (``address``: a Ray cluster to join; none starts a local instance)."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from harness.executors.ray import RayExecutor

        return RayExecutor(address)
    from harness.errors import HarnessError

    raise HarnessError(f"--executor {name!r}: unknown (allowed: local, ray)")
