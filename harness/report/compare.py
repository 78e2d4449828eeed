"""A comparison as a table: text (tabulate), markdown, or JSON for other tools; each gate with its p-value and
the test that gave it (``exact McNemar, 52 discordant pairs`` for an accuracy gate paired by example).

>>> from harness.compare import Comparison, GateResult
>>> c = Comparison("base", "cand", [GateResult("kd-16", "accuracy", "FAIL", "worse by 0.05", baseline=0.95,
...                                            candidate=0.9, change=-0.05, change_unit="fraction",
...                                            bound="worse by at most 0.01", p_value=0.0001, test="z")])
>>> print(summary_line(c))
1 checks: 1 FAIL: a gate fails
>>> print(failure_message(c.results))
kd-16 accuracy: FAIL: 0.95 -> 0.9 (-0.05); bound: worse by at most 0.01, p=0.0001 (z); worse by 0.05
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from tabulate import tabulate

from harness.compare import (
    FAIL,
    NEW,
    NOISY,
    PASS,
    REFUSED,
    SKIPPED,
    UNDECIDABLE,
    UNDECIDED,
    Comparison,
    GateResult,
)
from harness.suite_diff import how_it_differs_text, short_hash

HEADERS = ["model", "metric", "batch_size", "baseline", "candidate", "change", "bound", "verdict", "p-value", "test",
           "evidence", "note"]
FORMATS = ("text", "markdown", "json")


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 1e4 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _change(r: GateResult) -> str:
    if math.isnan(r.change):
        return "-"
    return f"{r.change:+.1f}%" if r.change_unit == "%" else f"{r.change:+.4g}"


def _row(r: GateResult, devices: bool) -> list[Any]:
    batch = "-" if r.batch_size is None else str(r.batch_size)
    if devices and r.device is not None:
        batch = f"{batch} ({r.device})"
    p = "-" if r.p_value is None else f"{r.p_value:.2g}"
    return [r.label, r.metric, batch, _number(r.baseline), _number(r.candidate), _change(r), r.bound or "-",
            r.verdict, p, r.test or "-", r.evidence or "-", r.note]


#: what a noisy cell beyond its bound does under each gate_policy.noisy, in harness compare
NOISY_OUTCOME = {"fail": "fail", "warn": "pass with a warning",
                 "rerun": "fail: a stored run is not measured again here, the pytest plugin measures the suite again"}


def summary_line(c: Comparison) -> str:
    counts = ", ".join(f"{c.count(v)} {v}" for v in (PASS, FAIL, REFUSED, NOISY, UNDECIDABLE, SKIPPED, NEW)
                       if c.count(v))
    verdict = {0: "every gate holds", 1: "a gate fails", 2: "a gate could not decide (refused)"}[c.exit_code]
    kinds = " and ".join(str(v) for v in (NOISY, UNDECIDABLE) if c.count(v))
    if kinds:
        verdict += f" ({kinds} cells {NOISY_OUTCOME[c.policy.noisy]}; gate_policy.noisy: {c.policy.noisy})"
    return f"{len(c.results)} checks: {counts}: {verdict}"


def _where(r: GateResult) -> str:
    return "" if r.batch_size is None else f" at batch size {r.batch_size}" + (f" on {r.device}" if r.device else "")


def warning_lines(c: Comparison) -> list[str]:
    """One line per noisy cell that passes under ``gate_policy.noisy: warn``."""
    return [f"warning: {r.label} {r.metric}{_where(r)}: {r.verdict}, passes under gate_policy.noisy: warn ({r.note})"
            for r in c.results if c.warns(r)]


def suite_line(c: Comparison) -> str:
    """``same suite: NAME HASH``, or what the candidate's suite content changes from the baseline's."""
    before, after = (short_hash(h) for h in c.suite_hashes)
    if not c.suite_changed:
        return f"same suite: {c.suite} {before}".rstrip()
    return f"suite content differs: {c.suite} {before} -> {after}: {how_it_differs_text(c.suite_differences)}"


def render_comparison(c: Comparison, fmt: str = "text") -> str:
    """The table (and, in text and markdown, the runs compared, the hardware and a summary line)."""
    if fmt == "json":
        data = {"baseline": c.baseline, "candidate": c.candidate, "exit_code": c.exit_code,
                "hardware_differences": c.hardware_differences, "suite": c.suite,
                "suite_hashes": {"baseline": c.suite_hashes[0], "candidate": c.suite_hashes[1]},
                "suite_differences": c.suite_differences, "gate_policy": c.policy.model_dump(),
                "warnings": warning_lines(c),
                "results": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(r).items()}
                            for r in c.results]}
        return json.dumps(data, indent=2)
    devices = len({r.device for r in c.results if r.device is not None}) > 1
    table = tabulate([_row(r, devices) for r in c.results], headers=HEADERS,
                     tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True)
    hardware = ("hardware differs: " + "; ".join(c.hardware_differences)) if c.hardware_differences \
        else "same hardware"
    lines = [f"baseline:  {c.baseline}", f"candidate: {c.candidate}", suite_line(c), hardware, ""]
    if fmt == "markdown":
        lines = [f"- baseline: `{c.baseline}`", f"- candidate: `{c.candidate}`", f"- {suite_line(c)}", f"- {hardware}",
                 ""]
    return "\n".join([*lines, table, "", *warning_lines(c), summary_line(c)])


def failure_message(results: list[GateResult]) -> str:
    """Assertion-style text for a pytest item: one line per cell that did not hold."""
    lines = []
    for r in results:
        if r.verdict not in (FAIL, *UNDECIDED):
            continue
        p = "" if r.p_value is None else f", p={r.p_value:.2g} ({r.test})"
        lines.append(f"{r.label} {r.metric}{_where(r)}: {r.verdict}: {_number(r.baseline)} -> {_number(r.candidate)} "
                     f"({_change(r)}); bound: {r.bound}{p}; {r.note}")
    return "\n".join(lines)
