"""Do a suite's gates hold between identical runs? Run it N times unchanged and compare neighbours.

    python benchmarks/gate_noise.py [--suite suites/quick.yaml] [--runs 5] [--reuse RUN_DIR...]

An identical rerun must pass every gate: a gate that fails here fails CI for
nothing, and its bound (or alpha) is too tight for this machine. Prints, per
pair of consecutive runs, how many checks held, and per latency cell the
change and the Mann-Whitney p-value; then the largest change seen per cell.
Exits 1 if any gate failed between identical runs (a ``noisy`` verdict, a
cell flagged noisy, is counted apart: it is the harness saying it cannot tell).
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
    from harness.compare import FAIL, NOISY, PASS, RunData, compare_runs

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
    for before, after in zip(data, data[1:], strict=False):
        result = compare_runs(before, after)
        failures, undecided = failures + result.count(FAIL), undecided + result.count(NOISY)
        print(f"{before.path.name} -> {after.path.name}: {result.count(PASS)}/{len(result.results)} checks pass, "
              f"{result.count(NOISY)} noisy, {result.count(FAIL)} fail")
        for r in result.results:
            if r.metric.startswith("latency") or r.verdict == FAIL:
                print(f"  {r.model:<12} {r.metric:<18} bs {r.batch_size!s:<4} {r.change:+7.1f}{r.change_unit:<2} "
                      f"p={r.p_value if r.p_value is None else f'{r.p_value:.2g}'}  {r.verdict} {r.note}")
                key = (r.model, r.metric, r.batch_size)
                worst[key] = max(worst.get(key, 0.0), abs(r.change))
    print(f"{len(data) - 1} pairs: {failures} gates failed, {undecided} noisy (undecided)")
    print("largest change between identical runs:")
    for (model, name, batch), change in sorted(worst.items()):
        print(f"  {model:<12} {name:<18} bs {batch!s:<4} {change:.1f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
