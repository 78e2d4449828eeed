"""Does `harness run` report the p50 that a bare timing loop measures, on the product's own path?

    python -m pytest benchmarks/test_fidelity.py -s        # prints the ratio table; about 2 minutes

Not part of the default test run (testpaths are tests/ and harness/). The
model is one no other test uses: an MLP 64 -> 768 -> 768 -> 10 named by
import path (``fidelity_net:FidelityNet``), loaded from a checkpoint, 1
intra-op thread, on scikit-learn's digits (inputs of 64 values). Two
measurements, each in a fresh Python process, alternated REPEATS times so
that the machine's slow phases (seconds long here) hit both alike:

- harness: ``harness run SUITE`` (the CLI, the local executor, every model of
  the cell in its own measuring process, paired rounds with a student and the
  A/A twin), the teacher's ``latency_p50_ms`` at each batch size;
- bare: a fresh ``python`` that builds the same module, loads the same
  checkpoint, sets 1 thread, builds the same input
  (:func:`harness.measure.batch.make_input`, seed 0), warms up for
  BARE_WARMUP_S, then wraps each ``model(x)`` in a ``time.perf_counter``
  pair for BARE_SECONDS under ``torch.inference_mode()``; its p50.

Each harness run's p50 is divided by the mean of the bare p50s just before
and just after it. Asserted: the median of those ratios is within 3% of 1 at
batch sizes 1, 8, 64 and 256.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.store import load_results

BATCH_SIZES = (1, 8, 64, 256)
REPEATS = 3
TOLERANCE = 0.03
BARE_WARMUP_S = 0.5
BARE_SECONDS = 1.0

NET = '''
import torch
from torch import nn


class FidelityNet(nn.Sequential):
    """An MLP 64 -> 768 -> 768 -> 10 on flattened 8x8 images (the fidelity benchmark's teacher)."""

    def __init__(self, num_classes: int = 10, input_shape=(1, 8, 8)):
        super().__init__(nn.Flatten(), nn.Linear(64, 768), nn.ReLU(), nn.Linear(768, 768), nn.ReLU(),
                         nn.Linear(768, num_classes))
'''

SUITE = '''
name: fidelity
dataset: {name: digits, test_fraction: 0.2, seed: 0}
teacher:
  arch: "fidelity_net:FidelityNet"
  checkpoint: teacher.pt
students:
  - name: small
    arch: mlp
    params: {hidden: [16]}
    method: {name: scratch, epochs: 1}
measure:
  threads: 1
  batch_sizes: [1, 8, 64, 256]
  latency: {warmup_iters: 10, min_iters: 50, max_seconds: 0.5}
'''

BARE = '''
import json, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from fidelity_net import FidelityNet
from harness.measure.batch import make_input

torch.set_num_threads(1)
model = FidelityNet()
model.load_state_dict(torch.load(sys.argv[2], weights_only=True))
model.eval()
out = {}
with torch.inference_mode():
    for batch_size in json.loads(sys.argv[3]):
        x = make_input(batch_size, (1, 8, 8), torch.Generator().manual_seed(0))
        started = time.perf_counter()
        while time.perf_counter() - started < float(sys.argv[4]):
            model(x)
        samples = []
        started = time.perf_counter()
        while time.perf_counter() - started < float(sys.argv[5]):
            t0 = time.perf_counter()
            model(x)
            samples.append(time.perf_counter() - t0)
        out[batch_size] = float(np.median(samples)) * 1e3
print(json.dumps(out))
'''


def _setup(folder: Path) -> None:
    import torch

    (folder / "fidelity_net.py").write_text(textwrap.dedent(NET))
    (folder / "suite.yaml").write_text(textwrap.dedent(SUITE))
    sys.path.insert(0, str(folder))
    try:
        from fidelity_net import FidelityNet  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(folder))
    torch.manual_seed(0)
    torch.save(FidelityNet().state_dict(), folder / "teacher.pt")
    (folder / "bare.py").write_text(textwrap.dedent(BARE))


def bare_p50(folder: Path) -> dict[int, float]:
    done = subprocess.run([sys.executable, str(folder / "bare.py"), str(folder), str(folder / "teacher.pt"),
                           json.dumps(list(BATCH_SIZES)), str(BARE_WARMUP_S), str(BARE_SECONDS)],
                          capture_output=True, text=True, check=True)
    return {int(k): v for k, v in json.loads(done.stdout).items()}


def harness_p50(folder: Path, env: dict[str, str]) -> dict[int, float]:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(folder / "suite.yaml"),
                           "--out", str(folder / "results"), "--no-report"],
                          capture_output=True, text=True, env=env, check=True)
    df = load_results(done.stdout.strip().splitlines()[-1])
    rows = df[(df["model"] == "teacher") & (df["metric"] == "latency_p50_ms")]
    return {int(b): float(v) for b, v in zip(rows["batch_size"], rows["value"], strict=True)}


def fidelity_table(folder: Path, repeats: int = REPEATS) -> dict[int, list[float]]:
    """Per batch size, each harness run's p50 over the mean of its two neighbouring bare p50s."""
    _setup(folder)
    env = {**os.environ, "HARNESS_CACHE_DIR": str(folder / "cache")}
    harness_p50(folder, env)  # builds the student into the cache: the timed runs are warm
    bare = [bare_p50(folder)]
    ratios: dict[int, list[float]] = {b: [] for b in BATCH_SIZES}
    for _ in range(repeats):
        timed = harness_p50(folder, env)
        bare.append(bare_p50(folder))
        for b in BATCH_SIZES:
            ratios[b].append(timed[b] / ((bare[-2][b] + bare[-1][b]) / 2))
    return ratios


@pytest.mark.slow
def test_harness_run_p50_agrees_with_a_bare_loop(tmp_path: Path) -> None:
    ratios = fidelity_table(tmp_path)
    print("\nharness run p50 / bare loop p50 (teacher MLP 64-768-768-10, 1 thread); each run, then the median")
    print(f"{'batch':>6} " + " ".join(f"{'run ' + str(i + 1):>7}" for i in range(REPEATS)) + f" {'median':>7}")
    for b, values in ratios.items():
        print(f"{b:>6} " + " ".join(f"{v:7.3f}" for v in values) + f" {statistics.median(values):7.3f}")
    off = {b: statistics.median(v) for b, v in ratios.items() if abs(statistics.median(v) - 1) > TOLERANCE}
    assert not off, f"harness/bare beyond {TOLERANCE:.0%}: {off}"
