"""Do the quick suite's comparisons hold still from run to run? Five consecutive warm runs, side by side.

    python benchmarks/paired_runs.py [SUITE] [--runs 5] [--keep DIR]

Runs ``harness run SUITE`` (the CLI, in a fresh process, with a model cache
warmed by one run first) ``--runs`` times back to back and prints three tables:

- twins: kd-16 p50 over scratch-16 p50, per batch size and run (one
  architecture, so 1.00 is the truth); target within 1.00 ± 0.03 everywhere;
- speedup: the teacher's paired ``speedup_vs_teacher`` over scratch-16 per
  batch size and run, and its max/min across the runs; target at most 1.06;
- coverage: every model has a ``speedup_vs_teacher`` row with an interval at
  every batch size; each run's A/A noise floor and its wall time (target:
  under 15 s warm, interpreter start-up included).

Exits 1 if any target is missed. ``--keep DIR`` keeps the run directories.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness.store import load_results

ROOT = Path(__file__).resolve().parent.parent
TWINS = ("kd-16", "scratch-16")
REFERENCE = "scratch-16"
TWIN_TOLERANCE = 0.03
SPREAD_LIMIT = 1.06
WARM_LIMIT_S = 15.0


def run(suite: str, out: Path, env: dict[str, str]) -> tuple[Path, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", suite, "--out", str(out), "--no-report"],
                          cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def per_run(run_dirs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(twin ratios, teacher speedups over REFERENCE) with one column per run, and the coverage problems."""
    twins, speedups, problems = {}, {}, []
    for i, run_dir in enumerate(run_dirs, 1):
        df = load_results(run_dir)
        p50 = df[df["metric"] == "latency_p50_ms"].pivot_table(index="batch_size", columns="model", values="value")
        twins[f"run {i}"] = p50[TWINS[0]] / p50[TWINS[1]]
        speed = df[(df["metric"] == "speedup_vs_teacher") & df["batch_size"].notna()]
        speedups[f"run {i}"] = speed[speed["model"] == REFERENCE].set_index("batch_size")["value"]
        expected = {(m, b) for m in df["model"].unique() for b in p50.index}
        covered = {(m, b) for m, b, low, high in zip(speed["model"], speed["batch_size"], speed["ci_low"],
                                                    speed["ci_high"], strict=True) if pd.notna(low) and pd.notna(high)}
        problems += [f"run {i}: {m} at batch {b} has no speedup_vs_teacher with an interval"
                     for m, b in sorted(expected - covered)]
    return pd.DataFrame(twins), pd.DataFrame(speedups), problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="suites/quick.yaml")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="copy the run directories here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HARNESS_CACHE_DIR": str(Path(tmp) / "cache")}
        run(args.suite, Path(tmp) / "warm-up", env)
        runs = [run(args.suite, Path(tmp) / "runs", env) for _ in range(args.runs)]
        twins, speedups, problems = per_run([d for d, _ in runs])
        floors = [json.loads((d / "manifest.json").read_text()).get("noise_floor", {}).get("pct") for d, _ in runs]
        if args.keep:
            for run_dir, _ in runs:
                shutil.copytree(run_dir, args.keep / run_dir.name)
    spread = speedups.max(axis=1) / speedups.min(axis=1)
    pd.set_option("display.width", 160)
    print(f"twins: {TWINS[0]} p50 / {TWINS[1]} p50 (target 1.00 ± {TWIN_TOLERANCE:.2f})")
    print(twins.round(3).to_string())
    print(f"\nspeedup_vs_teacher of {REFERENCE} (paired), per run, and max/min across runs (target ≤ {SPREAD_LIMIT})")
    print(speedups.assign(**{"max/min": spread}).round(3).to_string())
    print("\nA/A noise floor (%) per run: " + ", ".join("—" if f is None else f"{f:.2f}" for f in floors))
    print("wall time (s) per run: " + ", ".join(f"{seconds:.1f}" for _, seconds in runs))
    for problem in problems:
        print(problem)
    missed = [f"twins off by more than {TWIN_TOLERANCE}"] if ((twins - 1).abs() > TWIN_TOLERANCE).any().any() else []
    missed += [f"speedup spread above {SPREAD_LIMIT}"] if (spread > SPREAD_LIMIT).any() else []
    missed += [f"a warm run over {WARM_LIMIT_S:g} s"] if max(s for _, s in runs) > WARM_LIMIT_S else []
    missed += ["speedup rows missing"] if problems else []
    print("\n" + ("all targets met" if not missed else "missed: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
