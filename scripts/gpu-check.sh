#!/usr/bin/env bash
# Run the quick suite on CUDA and print latency per batch size, GPU memory, utilisation and energy per sample.
#
#   scripts/gpu-check.sh            # on a host with an NVIDIA GPU and a CUDA build of torch
#
# Exits 1 with one line when there is no usable GPU; otherwise with harness run's code (0, or 1 when some
# measurement failed: the table still prints, with the reasons). Results go under $GPU_CHECK_OUT (default: a new
# temporary folder), whose path is printed. PYTHON picks the interpreter (default: python3).
# GPU_CHECK_DEVICE=cpu runs the same steps on the CPU, to check this script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}

if [[ $DEVICE == cuda ]]; then
    if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "gpu-check: no NVIDIA GPU here (nvidia-smi is missing or found no device)" >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        echo "gpu-check: torch cannot use CUDA here ($("$PYTHON" -c 'import torch; print("torch", torch.__version__)' 2>&1 | tail -n 1))" >&2
        exit 1
    fi
    nvidia-smi -L
fi

OUT=${GPU_CHECK_OUT:-$(mktemp -d -t harness-gpu-check.XXXXXX)}
mkdir -p "$OUT"
SUITE="$OUT/quick-$DEVICE.yaml"

# The quick suite with measure.devices replaced and, on cuda, windows of 0.2 s per model and round (NVML
# averages utilisation and power over 1/6 s to 1 s: 10 ms windows would read the neighbours' forwards).
"$PYTHON" - suites/quick.yaml "$SUITE" "$DEVICE" <<'EOF'
import sys

import yaml

source, target, device = sys.argv[1:4]
with open(source) as f:
    suite = yaml.safe_load(f)
suite.setdefault("measure", {})["devices"] = [device]
if device.startswith("cuda"):
    suite["measure"].setdefault("latency", {}).update(round_seconds=0.2, max_seconds=2.0)
with open(target, "w") as f:
    yaml.safe_dump(suite, f, sort_keys=False)
EOF

set +e
"$PYTHON" -m harness.cli run "$SUITE" --out "$OUT/results" --reports "$OUT/reports" | tee "$OUT/run.out"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 && $status -ne 1 ]]; then
    echo "gpu-check: harness run failed (exit $status)" >&2
    exit "$status"
fi
RUN_DIR=$(tail -n 1 "$OUT/run.out")

"$PYTHON" - "$RUN_DIR" "$DEVICE" <<'EOF'
import sys
from pathlib import Path

import harness
from harness.store import read_manifest

run_dir, device = sys.argv[1:3]
hardware = read_manifest(Path(run_dir)).get("hardware", {})
print(f"\n{hardware.get('gpu') or 'no GPU'} | driver {hardware.get('driver', 'n/a')} | CUDA {hardware.get('cuda')}"
      f" | torch {hardware.get('torch')} | {run_dir}")
rows = harness.load_results(run_dir)
rows = rows[(rows["device"] == device) & rows["batch_size"].notna()]
columns = {  # metric -> (heading, scale, format); a metric this run did not record shows as n/a
    "latency_p50_ms": ("p50 ms", 1.0, "{:.4f}"),
    "throughput_sps": ("samples/s", 1.0, "{:,.0f}"),
    "speedup_vs_teacher": ("speedup", 1.0, "{:.2f}x"),
    "cuda_peak_allocated_bytes": ("CUDA peak MiB", 2.0**-20, "{:.2f}"),
    "gpu_process_memory_bytes": ("NVML proc MiB", 2.0**-20, "{:.0f}"),
    "gpu_util_pct": ("util %", 1.0, "{:.1f}"),
    "gpu_power_w": ("power W", 1.0, "{:.1f}"),
    "energy_j_per_sample": ("mJ/sample", 1e3, "{:.4f}"),
}
ok = rows[rows["status"] == "ok"]
print(f"{'model':<12} {'batch':>5} " + " ".join(f"{heading:>14}" for heading, _, _ in columns.values()))
for (model, batch), cell in ok.groupby(["model", "batch_size"], sort=True):
    values = dict(zip(cell["metric"], cell["value"], strict=False))
    shown = [fmt.format(values[m] * scale) if m in values else "n/a" for m, (_, scale, fmt) in columns.items()]
    print(f"{model:<12} {int(batch):>5} " + " ".join(f"{v:>14}" for v in shown))
for (metric, status, error), _ in rows[rows["status"] != "ok"].groupby(["metric", "status", "error"], dropna=False):
    print(f"{metric}: {status}: {error}")
EOF
exit "$status"
