"""Hand-made rows of the serving scenarios (offline, server) for the report, leaderboard and compare tests.

The models are those of :mod:`tests.unit.test_report` (teacher, scratch-16, kd-16). The server scenario runs at
50 and 100 queries/s with max_batch 1, the batch size the closed-loop rows of those tests are timed at too, so a
view that pooled scenarios would mix the two; the offline scenario at max_batch 64, a closed-loop batch size too.
"""

from __future__ import annotations

import math
from typing import Any

NAN = math.nan
ROLES = {"teacher": ("teacher", "train"), "scratch-16": ("student", "scratch"), "kd-16": ("student", "kd")}
SLO_MS = 10.0
MAX_BATCH = 1
OFFLINE_BATCH = 64
#: the suite's scenarios as a resolved suite (the manifest's ``suite.measure.scenarios``) records them
SCENARIOS = [{"kind": "single_stream"}, {"kind": "offline", "max_batch": OFFLINE_BATCH},
             {"kind": "server", "qps": [50.0, 100.0], "duration_seconds": 2.0, "arrival": "poisson",
              "max_batch": MAX_BATCH, "batch_timeout_ms": 1.0, "slo_p99_ms": SLO_MS, "seed": 0, "search": True,
              "search_tolerance": 0.1}]
#: model -> target rate -> (p50, p90, p99, mean, achieved, mean batch, late, dropped); None: not measured (p99 of
#: a run that dropped queries)
RATES: dict[str, dict[float, tuple[float | None, ...]]] = {
    "teacher": {50.0: (3.0, 4.0, 6.0, 3.2, 49.8, 1.0, 0.0, 0.0), 100.0: (4.0, 7.0, 12.0, 4.5, 99.1, 1.0, 0.02, 0.0)},
    "scratch-16": {50.0: (1.0, 1.5, 2.0, 1.1, 50.1, 1.0, 0.0, 0.0), 100.0: (1.2, 2.0, 3.0, 1.3, 100.2, 1.0, 0.0, 0.0)},
    "kd-16": {50.0: (0.9, 1.2, 1.8, 1.0, 49.9, 1.0, 0.0, 0.0),
              100.0: (0.95, 1.4, None, 1.1, 98.0, 1.0, 0.015, 0.015)},
}
RATE_METRICS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms", "achieved_qps",
                "mean_batch_size", "late_share", "dropped_share")
DROPPED = "over 1% of the queries were not served before the run gave up (dropped)"
#: model -> (max_qps_at_slo, bracket low, bracket high), (capacity_vs_teacher, low, high)
CAPACITY = {"teacher": ((80.0, 80.0, 88.0), (1.0, 1.0, 1.0)),
            "scratch-16": ((400.0, 400.0, 440.0), (5.0, 400.0 / 88.0, 440.0 / 80.0)),
            "kd-16": ((420.0, 420.0, 462.0), (5.25, 420.0 / 88.0, 462.0 / 80.0))}
#: model -> (throughput_sps, offline_seconds)
OFFLINE = {"teacher": (36000.0, 0.01), "scratch-16": (360000.0, 0.001), "kd-16": (400000.0, 0.0009)}
LOADGEN = {"p99_ms": 0.2, "p99_over_median_latency": 0.2222, "method": "each sleep of the server loop",
           "cells": [{"device": "cpu", "threads": 1, "dtype": "float32", "backend": "eager", "seq_len": None,
                      "scenario": "server", "model": "teacher", "sleeps": 300, "p50_ms": 0.05, "p99_ms": 0.2,
                      "max_ms": 1.5, "median_latency_ms": 3.5},
                     {"device": "cpu", "threads": 1, "dtype": "float32", "backend": "eager", "seq_len": None,
                      "scenario": "server", "model": "kd-16", "sleeps": 310, "p50_ms": 0.04, "p99_ms": 0.2,
                      "max_ms": 1.2, "median_latency_ms": 0.9}]}


def _row(model: str, name: str, value: float | None, scenario: str, batch_size: int, *,
         target_qps: float | None = None, ci: tuple[float, float] = (NAN, NAN), n: int | None = None,
         error: str = "", run_id: str = "r1", suite: str = "quick") -> dict[str, Any]:
    role, method = ROLES[model]
    return {"run_id": run_id, "suite": suite, "model": model, "role": role, "method": method, "seed": 0,
            "device": "cpu", "dtype": "float32", "batch_size": batch_size, "metric": name,
            "value": NAN if value is None else value, "unit": "", "ci_low": ci[0], "ci_high": ci[1], "n": n,
            "status": "ok" if value is not None else "skipped", "error": error if value is None else "",
            "scenario": scenario, "target_qps": target_qps}


def server_rows(**where: str) -> list[dict[str, Any]]:
    """Every model's rows of the server scenario: each target rate's, then the capacity's."""
    rows = []
    for model, rates in RATES.items():
        for rate, values in rates.items():
            rows += [_row(model, name, value, "server", MAX_BATCH, target_qps=rate, n=int(2 * rate), error=DROPPED,
                          **where) for name, value in zip(RATE_METRICS, values, strict=True)]
        (cap, low, high), (vs, vs_low, vs_high) = CAPACITY[model]
        rows += [_row(model, "max_qps_at_slo", cap, "server", MAX_BATCH, ci=(low, high), n=7, **where),
                 _row(model, "capacity_vs_teacher", vs, "server", MAX_BATCH, ci=(vs_low, vs_high), **where)]
    return rows


def offline_rows(**where: str) -> list[dict[str, Any]]:
    return [_row(model, name, value, "offline", OFFLINE_BATCH, n=5, **where)
            for model, values in OFFLINE.items()
            for name, value in zip(("throughput_sps", "offline_seconds"), values, strict=True)]
