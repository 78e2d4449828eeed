"""The statistics benchmarks run (--quick) and print their tables: benchmarks/type1_power.py, benchmarks/coverage.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize(("script", "headers"), [
    ("type1_power.py", ["| accuracy call (two-sided, 5%)", "type-I: harness", "type-I: old pooled McNemar",
                        "| latency gate", "type-I: p<5%", "power: p<5%", "max type-I error:"]),
    ("coverage.py", ["rounds |", "exact (iid)", "p50: independent", "speedup: independent", "p50: autocorrelated",
                     "old bootstrap: p50", "PASS:"]),
])
def test_benchmark_runs_quick_and_prints_its_tables(script: str, headers: list[str]) -> None:
    out = _run(script)
    for header in headers:
        assert header in out, f"{header!r} not in the output of {script}:\n{out}"
