"""Do a suite's gates hold between identical runs? Run it N times unchanged and compare neighbours.

    python benchmarks/gate_noise.py [--suite suites/quick.yaml] [--runs 5] [--reuse RUN_DIR...]

An identical rerun must pass every gate: a gate that fails here fails CI for
nothing, and its bound (or alpha) is too tight for this machine. Prints, per
pair of consecutive runs, how many checks held, and per latency cell the
change and the rank test's p-value, labelled with the evidence it rests on:
an absolute latency's p comes from rounds *within* each run, so it measures
that run's precision, not whether the code changed (identical runs drift
4-10% apart, and such p-values fall far below 0.01 between identical code);
``speedup_vs_teacher``, paired within each run, is the gate that cancels the
drift. Then the largest change seen per cell, and how many p-values under
0.01 appeared between identical runs, by evidence.
Exits 1 if any gate failed between identical runs (``noisy`` and
``undecidable`` verdicts are counted apart: the harness saying it cannot tell).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite(suite: str, out: Path, cache: Path) -> Path:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", suite, "--out", str(out), "--no-report"],
                          cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from harness.compare import FAIL, NOISY, PASS, UNDECIDABLE, RunData, compare_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", nargs="*", type=Path, default=[], help="compare these runs instead of running")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.reuse or [run_suite(args.suite, Path(tmp) / "results", Path(tmp) / "cache")
                              for _ in range(args.runs)]
        data = [RunData.load(r) for r in runs]
    failures, undecided, worst = 0, 0, {}
    small: dict[str, int] = {}  # evidence -> p-values under 0.01 between identical runs
    for before, after in zip(data, data[1:], strict=False):
        result = compare_runs(before, after)
        failures = failures + result.count(FAIL)
        undecided += result.count(NOISY) + result.count(UNDECIDABLE)
        print(f"{before.path.name} -> {after.path.name}: {result.count(PASS)}/{len(result.results)} checks pass, "
              f"{result.count(NOISY)} noisy, {result.count(UNDECIDABLE)} undecidable, {result.count(FAIL)} fail")
        for r in result.results:
            if r.p_value is not None and r.p_value < 0.01:
                small[r.evidence] = small.get(r.evidence, 0) + 1
            if r.metric.startswith("latency") or r.metric == "speedup_vs_teacher" or r.verdict == FAIL:
                p = "-" if r.p_value is None else f"{r.p_value:.2g}"
                print(f"  {r.model:<12} {r.metric:<18} bs {r.batch_size!s:<4} {r.change:+7.1f}{r.change_unit:<2} "
                      f"p={p} [{r.evidence}]  {r.verdict} {r.note}")
                key = (r.model, r.metric, r.batch_size)
                worst[key] = max(worst.get(key, 0.0), abs(r.change))
    print(f"{len(data) - 1} pairs: {failures} gates failed, {undecided} noisy or undecidable")
    print("p < 0.01 between identical runs, by the evidence the p rests on:")
    for evidence, count in sorted(small.items()) or [("none", 0)]:
        print(f"  {count:>4}  {evidence}")
    print("  (a p from rounds within each run is that run's precision, not evidence that the code changed)")
    print("largest change between identical runs:")
    for (model, name, batch), change in sorted(worst.items()):
        print(f"  {model:<12} {name:<18} bs {batch!s:<4} {change:.1f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
