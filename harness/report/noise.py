"""The A/A noise floor of a run, as reports state it and use it.

A run times its teacher against a second copy of itself in the same paired
rounds; the manifest's ``noise_floor.pct`` is made from every A/A round of
the run pooled: the 95% precision of a ratio of medians over the design's
rounds on that spread, plus the A/A ratio's own distance from 1
(:class:`harness.measure.paired.NoiseFloorLog`; runs before it recorded the
widest end of one batch size's interval). Two
latencies (or speedups) that differ by less than it cannot be told apart on
that machine in that run, so no finding, tie-break or Pareto decision calls
such a difference real (:func:`within_floor`).

>>> from harness.manifest import parse
>>> floor = noise_floor(parse({"schema_version": 3, "run_id": "r1", "status": "complete", "suite_name": "quick",
...                           "suite_hash": "ab12", "suite": {}, "noise_floor": {"pct": 1.7, "cells": []}}, "m.json"))
>>> sentence(floor)
'Noise floor (A/A): differences in latency under 1.7% cannot be told apart on this machine in this run.'
>>> within_floor(1.00, 1.015, floor.pct), within_floor(1.00, 1.02, floor.pct)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.manifest import NoiseFloor, noise_floor
from harness.store import read_manifest, run_dirs

__all__ = ["NoiseFloor", "format_pct", "largest", "noise_floor", "read_noise_floors", "sentence", "within_floor"]

PREFIX = "Noise floor (A/A)"


def _cell_text(cell: Mapping[str, Any]) -> str:
    where = ", ".join(str(cell[k]) for k in ("device", "dtype", "backend") if cell.get(k) not in (None, ""))
    if cell.get("threads") is not None:
        where += f", {cell['threads']} thread{'s' if cell['threads'] != 1 else ''}"
    if cell.get("seq_len") is not None:
        where += f", seq {cell['seq_len']}"
    ratio = cell.get("ratio")
    text = f"set by batch size {cell.get('batch_size')} on {where}"
    if isinstance(ratio, (int, float)):
        text += f": teacher/copy p50 ratio {ratio:.3f}"
    if isinstance(cell.get("ci_low"), (int, float)) and isinstance(cell.get("ci_high"), (int, float)):
        text += f", 95% interval {cell['ci_low']:.3f}–{cell['ci_high']:.3f}"
    return text


def sentence(floor: NoiseFloor, *, detail: bool = False) -> str:
    """The floor as a report states it; with ``detail``, the A/A cell that set it."""
    if floor.pct is None:
        return f"{PREFIX}: {floor.reason}; latency differences are judged by their intervals alone."
    text = (f"{PREFIX}: differences in latency under {format_pct(floor.pct)} cannot be told apart on this machine "
            "in this run")
    if detail and floor.aa:
        text += f" ({_aa_text(floor.aa)})"
    elif detail and floor.cell:
        text += f" ({_cell_text(floor.cell)})"
    return text + "."


def _aa_text(aa: Mapping[str, Any]) -> str:
    """The pooled A/A ratio beside the floor: what the floor was made from."""
    text = f"teacher/copy ratio {aa['ratio']:.3f}"
    if isinstance(aa.get("ci_low"), (int, float)) and isinstance(aa.get("ci_high"), (int, float)):
        text += f", 95% interval {aa['ci_low']:.3f}–{aa['ci_high']:.3f}"
    if aa.get("pooled_rounds"):
        text += (f", over {aa['pooled_rounds']} A/A rounds; the floor is the precision of a ratio over "
                 f"{aa['rounds']} rounds")
    return text


def format_pct(pct: float) -> str:
    """A floor as text: 1.7 -> '1.7%', 0.25 -> '0.25%'."""
    return f"{pct:.2g}%" if pct < 1 else f"{pct:.1f}%"


def within_floor(a: float, b: float, pct: float | None) -> bool:
    """Whether two positive latencies (or speedups) differ by less than ``pct`` percent (larger over smaller);
    False without a floor or a value."""
    if pct is None or any(math.isnan(v) or v <= 0 for v in (a, b)):
        return False
    return max(a, b) / min(a, b) - 1 < pct / 100


def largest(floors: Iterable[NoiseFloor]) -> float | None:
    """The largest measured floor among ``floors`` (None when none was measured): the conservative one."""
    measured = [f.pct for f in floors if f.pct is not None]
    return max(measured) if measured else None


def read_noise_floors(paths: Sequence[str | Path]) -> dict[str, NoiseFloor]:
    """Run id -> its noise floor, for every run directory under ``paths`` (as :func:`harness.store.load_results`
    finds them)."""
    floors = {}
    for path in paths:
        for run_dir in run_dirs(Path(path)):
            manifest = read_manifest(run_dir)
            floors[manifest.run_id] = noise_floor(manifest)
    return floors
