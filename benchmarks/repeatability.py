"""Run a suite twice back to back and compare p50 latencies cell by cell.

    python benchmarks/repeatability.py [SUITE] [--tolerance 0.05]

A cell is (model, seed, device, dtype, batch size). Cells flagged noisy in
either run (IQR/median above 10%) are listed but not held to the tolerance.
Exits 1 if a cell that is not noisy differs by more than the tolerance.
The model cache is warmed first, so both timed runs measure the same models.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from harness.store import load_results

ROOT = Path(__file__).resolve().parent.parent
CELL = ["model", "seed", "device", "dtype", "batch_size"]
NOISY = 0.10


def run(suite: str, out: Path, env: dict[str, str]) -> Path:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", suite, "--out", str(out), "--no-report"],
                          cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


def cells(run_dir: Path) -> pd.DataFrame:
    df = load_results(run_dir)
    wide = df[df["metric"].isin(["latency_p50_ms", "latency_iqr_over_median"])].pivot_table(
        index=CELL, columns="metric", values="value")
    return wide.rename(columns={"latency_p50_ms": "p50", "latency_iqr_over_median": "iqr"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="suites/quick.yaml")
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HARNESS_CACHE_DIR": str(Path(tmp) / "cache")}
        run(args.suite, Path(tmp) / "warm-up", env)
        first, second = (cells(run(args.suite, Path(tmp) / name, env)) for name in ("a", "b"))
    both = first.add_suffix("_a").join(second.add_suffix("_b"))
    both["change"] = both["p50_b"] / both["p50_a"] - 1
    both["noisy"] = (both["iqr_a"] > NOISY) | (both["iqr_b"] > NOISY)
    steady = both[~both["noisy"]]
    within = (steady["change"].abs() <= args.tolerance)
    pd.set_option("display.width", 160)
    print(both[["p50_a", "p50_b", "change", "iqr_a", "iqr_b", "noisy"]].round(4).to_string())
    print(f"\n{int(within.sum())} of {len(steady)} steady cells within ±{args.tolerance:.0%}; "
          f"{int(both['noisy'].sum())} of {len(both)} cells flagged noisy; "
          f"largest steady change {steady['change'].abs().max():.1%}")
    return 0 if within.all() else 1


if __name__ == "__main__":
    sys.exit(main())
