"""``measure.scenarios``: how queries reach a model while it is timed (docs/serving.md).

Each item is ``single_stream`` (the closed-loop sweep over ``batch_sizes``),
``offline`` / ``{offline: {max_batch: N}}``, or ``{server: {...}}`` (an
open-loop Poisson or uniform load at each rate of ``qps``, then a search for
the highest rate within ``slo_p99_ms``). Absent, the list is
``[single_stream]``.

>>> from pydantic import TypeAdapter
>>> [s.kind for s in TypeAdapter(Scenarios).validate_python(
...     ["single_stream", {"server": {"qps": [100], "slo_p99_ms": 20}}])]
['single_stream', 'server']
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from harness.measure.loadgen import LoadSpec, min_queries
from harness.suite.fields import Seed, Strict

KINDS = ("single_stream", "offline", "server")


class SingleStreamSpec(Strict):
    """Closed-loop timing: one batch, wait, the next (measure.batch_sizes, measure.latency)."""

    #: written as the bare name: ``single_stream``
    kind: Literal["single_stream"] = "single_stream"


class OfflineSpec(Strict):
    """Every test input queued at once, served ``max_batch`` at a time."""

    #: written as the key: ``{offline: {max_batch: 64}}`` (or the bare name, for the defaults)
    kind: Literal["offline"] = "offline"
    #: the most queries one batch serves; the test split is served in batches of this size
    max_batch: int = Field(64, ge=1, le=1 << 16)


class ServerSpec(Strict):
    """Queries arriving on their own clock at each rate of ``qps``, served by a dynamic batcher."""

    #: written as the key: ``{server: {qps: [100, 200], slo_p99_ms: 20}}``
    kind: Literal["server"] = "server"
    #: the target rates (queries per second); each is one run of every model
    qps: list[Annotated[float, Field(gt=0, le=1e7)]] = Field(min_length=1, max_length=64)
    #: seconds of arrivals in each run (longer where a rate needs it to hold the queries a p99 needs)
    duration_seconds: float = Field(8.0, gt=0, le=24 * 3600)
    #: poisson (exponential gaps, the count fixed: sorted uniform times) or uniform (evenly spaced)
    arrival: Literal["poisson", "uniform"] = "poisson"
    #: the most queries one batch serves (1: no batching)
    max_batch: int = Field(1, ge=1, le=1 << 16)
    #: the longest the batcher waits, from the oldest queued query's arrival, for a batch to fill
    batch_timeout_ms: float = Field(0.0, ge=0, le=60_000)
    #: the p99 response-time budget: late_share counts against it, and max_qps_at_slo searches for it
    slo_p99_ms: float = Field(gt=0, le=3_600_000)
    #: seeds the arrival times (the same for every model) and the order models run in
    seed: Seed = 0
    #: search for max_qps_at_slo after the fixed rates
    search: bool = True
    #: the search stops once the bracket's ends are within this ratio (0.1: 10%)
    search_tolerance: float = Field(0.1, gt=0, le=1)

    @field_validator("qps")
    @classmethod
    def _unique(cls, values: list[float]) -> list[float]:
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"values must be unique; repeated: {', '.join(f'{v:g}' for v in repeated)}")
        return values

    @model_validator(mode="after")
    def _enough_queries(self) -> ServerSpec:
        """A run at the lowest rate must hold the queries a p99 needs (MLPerf-style order-statistic bound)."""
        need, lowest = min_queries(), min(self.qps)
        held = int(round(lowest * self.duration_seconds))
        if held < need:
            raise ValueError(
                f"duration_seconds: {self.duration_seconds:g} s at {lowest:g} queries/s holds {held} queries; a p99 "
                f"needs at least {need} (the slowest of {need} bounds the p99 with 99% confidence): raise "
                f"duration_seconds to {need / lowest:.3g} or the lowest qps to {need / self.duration_seconds:.3g}")
        return self


def _item(value: Any) -> Any:
    """``"offline"`` or ``{offline: {...}}`` -> ``{"kind": "offline", ...}``; an unknown scenario is refused."""
    params: Any
    if isinstance(value, str):
        name, params = value, {}
    elif isinstance(value, dict) and len(value) == 1 and "kind" not in value:
        name, params = next(iter(value.items()))
        params = {} if params is None else params
    else:
        return value  # already resolved ({"kind": ...}), or refused by the models below
    if name not in KINDS:
        close = difflib.get_close_matches(str(name), KINDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f"unknown scenario {str(name)[:60]!r} (allowed: {', '.join(KINDS)}{hint})")
    if not isinstance(params, dict):
        raise ValueError(f"scenario {name}: give its settings as a mapping (got {type(params).__name__})")
    if name == "server" and not params:
        raise ValueError("scenario server: give at least qps and slo_p99_ms, e.g. {server: {qps: [100], "
                         "slo_p99_ms: 20}}")
    return {"kind": name, **params}


Scenario = Annotated[Annotated[SingleStreamSpec | OfflineSpec | ServerSpec, Field(discriminator="kind")],
                     BeforeValidator(_item)]
Scenarios = Annotated[list[Scenario], Field(min_length=1, max_length=8)]
DEFAULT: list[dict[str, Any]] = [{"kind": "single_stream"}]


def unique_kinds(scenarios: list[Any]) -> list[Any]:
    """Each scenario at most once (a server with several rates is one scenario)."""
    kinds = [s.kind for s in scenarios]
    repeated = sorted({k for k in kinds if kinds.count(k) > 1})
    if repeated:
        raise ValueError(f"each scenario at most once; repeated: {', '.join(repeated)} (give a server several qps "
                         "in one entry)")
    return scenarios


def load_spec(scenario: SingleStreamSpec | OfflineSpec | ServerSpec, queries: int) -> LoadSpec | None:
    """How the measuring code loads a model in this scenario (None: closed-loop); ``queries``: the test
    split's size, what an offline run serves."""
    if isinstance(scenario, OfflineSpec):
        return LoadSpec("offline", scenario.max_batch, queries=queries)
    if isinstance(scenario, ServerSpec):
        return LoadSpec("server", scenario.max_batch, qps=tuple(scenario.qps),
                        duration_seconds=scenario.duration_seconds, arrival=scenario.arrival,
                        batch_timeout_ms=scenario.batch_timeout_ms, slo_p99_ms=scenario.slo_p99_ms,
                        seed=scenario.seed, search=scenario.search, search_tolerance=scenario.search_tolerance)
    return None

