"""The server loop against queueing theory: M/D/1 at rho 0.5 and 0.8, M/M/1 at rho 0.5, as a markdown table.

    python benchmarks/queueing_table.py [--attempts 1] [--seeds N]

Serves each queue of ``tests.queueing.CASES`` (about 58 s; the same queues,
seeds and model as tests/unit/test_queueing_theory.py) and prints, per
queue: the theory's mean response time W; Lindley's on the same arrivals
and service times (no clock: the run's chance error); the measured mean and
its error against both; the achieved rate against the target; the load
generator's wake-up lateness (p50/p99 of ``LoadOutcome.lateness_ms``) beside
the model's own sleeps' (the same machine, seen by a witness outside the
loop); and how far the machine held the model up (a run over 1% of W is
served again, ``--attempts`` times in all). ``--seeds N`` adds, without a
clock, how far Lindley's mean lands from W over seeds 0..N-1 at each queue's
count: the basis of the seed comments in ``CASES``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.queueing: the helpers the tests use

from tests.queueing import CASES, QueueCase, QueueRun, lindley_errors, serve_quietly  # noqa: E402

COLUMNS = ("queue", "D or 1/mu (ms)", "queries", "theory W (ms)", "Lindley (ms)", "measured (ms)",
           "measured vs W", "Lindley vs W", "measured vs Lindley", "achieved / target QPS",
           "loop lateness p50 / p99 (ms)", "model's sleeps p50 / p99 (ms)", "model held up")


def row(case: QueueCase, r: QueueRun) -> list[str]:
    theory, lindley, measured = case.theory_ms(), r.lindley_ms.mean(), r.latency_ms.mean()
    model_late = np.asarray(r.model.sleep_late) * 1000.0
    return [case.name, f"{case.service_ms:g}", str(case.queries), f"{theory:.3f}", f"{lindley:.3f}",
            f"{measured:.3f}", f"{measured / theory - 1:+.1%}", f"{lindley / theory - 1:+.1%}",
            f"{measured / lindley - 1:+.1%}", f"{r.values['achieved_qps']:.1f} / {case.rate:.1f}",
            f"{r.lateness_ms(0.5):.3f} / {r.lateness_ms(0.99):.3f}",
            f"{np.quantile(model_late, 0.5):.3f} / {np.quantile(model_late, 0.99):.3f}",
            f"{r.held_up():.2%} of W" + ("" if r.quiet else " (busy machine)")]


def markdown(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2, help="serve a held-up queue again, this many runs in all")
    parser.add_argument("--seeds", type=int, default=0, help="also Lindley's chance error over this many seeds")
    args = parser.parse_args()
    rows = []
    for case in CASES.values():
        rows.append(row(case, serve_quietly(case, args.attempts)))
        print(f"{case.name}: served", file=sys.stderr, flush=True)
    print(markdown(COLUMNS, rows))
    if args.seeds:
        seeds, chance = range(args.seeds), []
        for case in CASES.values():
            errors = lindley_errors(case, seeds)
            chance.append([case.name, str(case.queries), f"{errors[0]:+.1%}", f"{np.mean(np.abs(errors) <= 0.05):.1%}",
                           f"{np.mean(np.abs(errors) <= 0.10):.1%}", f"{np.quantile(np.abs(errors), 0.99):.1%}"])
        print(f"\nLindley's mean against W over seeds 0-{args.seeds - 1} (no clock):\n")
        print(markdown(("queue", "queries", "seed 0", "within 5%", "within 10%", "99% of seeds within"), chance))
    return 0


if __name__ == "__main__":
    sys.exit(main())
