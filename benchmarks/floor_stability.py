"""Does the A/A noise floor hold still? Run a suite N times unchanged and print each run's floor, its pooled A/A
ratio with the interval, the rounds it pooled, and how busy the machine was; then the floors' max/min.

    python benchmarks/floor_stability.py [--suite suites/quick.yaml] [--runs 5]

The target (issue 24): max/min <= 2 over 5 unchanged quick runs on an otherwise idle machine. A run the machine
load recorder calls contended is marked: its floor says as much about the other work as about this machine.
Exits 1 when the idle runs' max/min is over 2 (or fewer than two runs were idle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    idle, every = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HARNESS_CACHE_DIR": str(Path(tmp) / "cache")}
        for _ in range(args.runs):
            out = str(Path(tmp) / "r")
            command = [sys.executable, "-m", "harness.cli", "run", args.suite, "--out", out, "--no-report"]
            done = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            manifest = json.loads((Path(done.stdout.strip().splitlines()[-1]) / "manifest.json").read_text())
            floor, load = manifest.get("noise_floor") or {}, manifest.get("machine_load") or {}
            busy = bool(load.get("contended"))
            print(f"{manifest['run_id']}  floor {floor.get('pct')}%  A/A ratio {floor.get('ratio')} "
                  f"({floor.get('ci_low')}-{floor.get('ci_high')}), {floor.get('pooled_rounds')} A/A rounds, "
                  f"spread {floor.get('spread')}, R {floor.get('rounds')}  "
                  f"other CPU {load.get('other_cpu_share')}{'  CONTENDED' if busy else ''}")
            if floor.get("pct"):
                every.append(floor["pct"])
                if not busy:
                    idle.append(floor["pct"])
    for label, floors in (("every run", every), ("idle runs", idle)):
        if len(floors) >= 2:
            print(f"{label}: floor {min(floors):.2f}% to {max(floors):.2f}%, max/min {max(floors) / min(floors):.2f}")
    return 0 if len(idle) >= 2 and max(idle) / min(idle) <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
