"""One result row, one raw latency sample, and the statuses a row can have.

The stored tables' columns are these dataclasses' fields, in order, with the
pandas dtype each field declares (:data:`COLUMNS`, :data:`SAMPLE_COLUMNS`):
adding a column is adding a field (and a schema migration in :mod:`harness.store`).

>>> row = Row(model="kd-16", role="student", method="kd", seed=0, metric="accuracy", value=0.92, unit="fraction")
>>> row.status, row.record()["status"]
(<Status.OK: 'ok'>, 'ok')
>>> list(COLUMNS)[:4]
['run_id', 'suite', 'model', 'role']
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.metrics import metric

#: the scenario of closed-loop timing (one batch, wait, the next): every row written before schema 3
SINGLE_STREAM = "single_stream"


class Status(StrEnum):
    """What became of one metric of one model: measured, not applicable or not attempted (with the
    reason), or attempted and failed (with the error)."""

    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


def _col(dtype: str, default: Any = None, since: int = 1) -> Any:
    """A column of pandas dtype ``dtype``, stored since schema version ``since`` (older runs are migrated)."""
    return field(default=default, metadata={"dtype": dtype, "since": since})


@dataclass(frozen=True)
class Row:
    """One value of one metric of one model (at one cell and batch size for the timed metrics); a value
    that could not be had is NaN, with ``status`` saying why and ``error`` the reason."""

    run_id: str = _col("string", "")
    suite: str = _col("string", "")
    model: str = _col("string", "")
    role: str = _col("string", "")
    method: str = _col("string", "")
    seed: int | None = _col("Int64")
    device: str = _col("string", "cpu")
    dtype: str = _col("string", "float32")
    batch_size: int | None = _col("Int64")
    metric: str = _col("string", "")
    value: float = _col("float64", math.nan)
    unit: str = _col("string", "")
    ci_low: float = _col("float64", math.nan)
    ci_high: float = _col("float64", math.nan)
    n: int | None = _col("Int64")
    status: Status = _col("string", Status.OK)
    error: str = _col("string", "")
    # schema 2
    threads: int | None = _col("Int64", since=2)
    backend: str = _col("string", "eager", since=2)
    seq_len: int | None = _col("Int64", since=2)
    # schema 3: how the model was loaded (single_stream: closed-loop timing); target_qps only in the server scenario
    scenario: str = _col("string", SINGLE_STREAM, since=3)
    target_qps: float | None = _col("float64", since=3)
    # schema 4: the std of the Gaussian noise added to the test inputs (accuracy_under_noise only)
    noise_sigma: float | None = _col("float64", since=4)

    def record(self) -> dict[str, Any]:
        """The row as a plain dict (the status as its string), as the tables store it."""
        return {**dataclasses.asdict(self), "status": str(self.status)}

    def of(self, name: str, value: float | None, *, ci: tuple[float, float] = (math.nan, math.nan),
           n: int | None = None, status: Status = Status.OK, error: str = "", **columns: Any) -> Row:
        """This row as a template (a model's identity: suite, model, role, method, seed, dtype) with one metric's
        value: ``value`` (None: NaN, for a status with its reason), its unit (:mod:`harness.metrics`), interval and
        count, and any cell columns (device, threads, batch_size, ...). The one row builder of the measurer and
        of the tests against a baseline.

        >>> model = Row(suite="quick", model="kd-16", role="student", method="kd", seed=0)
        >>> r = model.of("latency_p50_ms", 0.031, ci=(0.03, 0.032), n=8, batch_size=1, threads=1)
        >>> r.metric, r.unit, r.value, r.batch_size, r.ci_high
        ('latency_p50_ms', 'ms', 0.031, 1, 0.032)
        """
        return dataclasses.replace(self, metric=name, value=math.nan if value is None else float(value),
                                   unit=metric(name).unit, ci_low=ci[0], ci_high=ci[1], n=n, status=status,
                                   error=error, **columns)


@dataclass(frozen=True)
class Sample:
    """One timed window's per-batch latency, as ``samples.parquet`` keeps it."""

    run_id: str = _col("string", "")
    model: str = _col("string", "")
    seed: int | None = _col("Int64")
    device: str = _col("string", "cpu")
    dtype: str = _col("string", "float32")
    batch_size: int | None = _col("Int64")
    iteration: int | None = _col("Int64")
    latency_ms: float = _col("float64", math.nan)
    # schema 2
    threads: int | None = _col("Int64", since=2)
    backend: str = _col("string", "eager", since=2)
    seq_len: int | None = _col("Int64", since=2)
    # schema 3: the paired round a sample was timed in, and its model's place in that round's random order
    round: int | None = _col("Int64", since=3)
    slot: int | None = _col("Int64", since=3)
    scenario: str = _col("string", SINGLE_STREAM, since=3)

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Prediction:
    """One model's answer on one test example, as ``predictions.parquet`` keeps it: what paired tests of
    quality (McNemar, the paired gain), calibration and the per-class table are computed from."""

    run_id: str = _col("string", "")
    model: str = _col("string", "")
    seed: int | None = _col("Int64")
    #: the dtype the model was evaluated in (a model measured in several dtypes has one set each)
    dtype: str = _col("string", "float32")
    #: the example's index in the test split (the same examples, in the same order, for every model)
    example: int | None = _col("Int64")
    label: int | None = _col("Int64")
    predicted: int | None = _col("Int64")
    correct: bool | None = _col("boolean")
    #: the prediction equals the teacher's (null where the teacher gave none)
    agrees_with_teacher: bool | None = _col("boolean")
    #: the predicted class's softmax probability
    confidence: float = _col("float64", math.nan)

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _columns(cls: type) -> dict[str, str]:
    return {f.name: f.metadata["dtype"] for f in dataclasses.fields(cls)}


def stored_since(cls: type, version: int) -> list[str]:
    """The columns a table of ``cls`` rows written by schema ``version`` must have."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata["since"] <= version]


#: column -> pandas dtype, in order (DESIGN.md's result schema)
COLUMNS: dict[str, str] = _columns(Row)
SAMPLE_COLUMNS: dict[str, str] = _columns(Sample)
PREDICTION_COLUMNS: dict[str, str] = _columns(Prediction)
#: the row type of each stored table
Kind = type[Row] | type[Sample] | type[Prediction]
#: what a missing value of a column reads as when a table is framed (older rows, hand-made rows)
DEFAULTS: dict[str, Any] = {"status": Status.OK.value, "error": "", "backend": "eager", "scenario": SINGLE_STREAM}
