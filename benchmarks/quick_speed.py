"""Time `harness run suites/quick.yaml` cold (empty model cache) and warm, in fresh processes.

    python benchmarks/quick_speed.py [--repeat N]

Each run writes its report too, as ``harness run`` does by default. Targets
(issue 28): warm under 12 s and cold under 40 s on 2 cores, as the median of
5 (the default ``--repeat``). Prints one line per run, with the 1-minute load
average before it (another job on the machine slows every phase), and the
medians; exits 1 if a median misses its target. Wall time includes
interpreter start-up and exit, as a user experiences it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold": 40.0, "warm": 12.0}


def timed_run(cache: Path, out: Path) -> float:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "run", "suites/quick.yaml", "--out", str(out / "results"),
                    "--reports", str(out / "reports")], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = Path(tmp) / "cache", Path(tmp)
            load = os.getloadavg()[0]
            times["cold"].append(timed_run(cache, out))
            times["warm"].append(timed_run(cache, out))
            print(f"cold {times['cold'][-1]:6.1f} s   warm {times['warm'][-1]:6.1f} s   (load average {load:.2f} "
                  "before)", flush=True)
    failed = False
    for phase, values in times.items():
        median = statistics.median(values)
        ok = median < TARGETS[phase]
        failed |= not ok
        print(f"{phase}: median {median:.1f} s over {len(values)} (target < {TARGETS[phase]:.0f} s) "
              f"{'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
