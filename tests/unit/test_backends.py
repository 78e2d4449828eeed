"""Latency backends: each runs the model it was given (same outputs), is timed, and says why when it cannot."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from harness.measure.backends import BackendUnavailable, prepare
from harness.measure.latency import LatencySettings
from harness.measure.paired import measure_alone

try:
    import onnxruntime  # noqa: F401
    import onnxscript  # noqa: F401
    HAS_ONNX = True
except ImportError:
    HAS_ONNX = False
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed (pip install -e '.[onnx]')")
FAST = LatencySettings(warmup_iters=1, warmup_seconds=0.0, min_iters=3, max_seconds=0.02)
CONVERTED = ["torchscript", "export", pytest.param("onnx", marks=needs_onnx)]


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).eval()


class Branchy(nn.Module):
    """Control flow on a tensor's value: torch.export cannot capture it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


@pytest.mark.parametrize("backend", ["eager", *CONVERTED])
def test_a_prepared_model_computes_what_the_eager_model_does_at_every_batch_size(backend: str):
    model = tiny()
    runner = prepare(model, backend, torch.randn(1, 6), threads=1)
    for batch_size in (1, 3, 17):
        x = torch.randn(batch_size, 6)
        expected = model(x).detach().numpy()
        with torch.inference_mode():
            got = np.asarray(runner(x))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", CONVERTED)
def test_each_backend_is_timed_with_its_preparation_as_compile_seconds(backend: str):
    _, results = measure_alone(tiny(), (6,), [1, 4], "cpu", 1, FAST, backend=backend)
    assert [r.status for r in results] == ["ok", "ok"]
    first, second = results
    assert first.values["latency_p50_ms"][0] > 0 and len(first.samples_ms) >= 3
    # the conversion is charged to the first batch size, so it costs more than the second's first call
    assert first.values["compile_seconds"][0] > second.values["compile_seconds"][0] >= 0
    # memory is measured for the eager module only: skipped, with the reason
    assert first.absent["peak_memory_bytes"][0] == "skipped" and "backend eager" in first.absent["peak_memory_bytes"][1]


def test_eager_has_no_compile_seconds_but_has_memory():
    _, [result] = measure_alone(tiny(), (6,), [2], "cpu", 1, FAST, isolated=False)
    assert result.absent["compile_seconds"] == ("skipped", "eager PyTorch compiles nothing")
    assert result.values["peak_memory_bytes"][0] > 0


def test_a_model_export_cannot_capture_is_an_error_with_the_reason():
    _, results = measure_alone(Branchy(), (6,), [1, 2], "cpu", 1, FAST, backend="export", isolated=False)
    assert {r.status for r in results} == {"error"}
    assert all(r.error.startswith("export: ") and len(r.error.splitlines()) == 1 for r in results)


def test_onnx_without_onnxruntime_is_skipped_not_crashed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without the extra looks like
    with pytest.raises(BackendUnavailable, match=r"onnxruntime is not installed \(pip install -e '\.\[onnx\]'\)"):
        prepare(tiny(), "onnx", torch.randn(2, 6), threads=1)
    _, results = measure_alone(tiny(), (6,), [1], "cpu", 1, FAST, backend="onnx", isolated=False)
    assert results[0].status == "skipped" and "onnxruntime is not installed" in results[0].error


@pytest.mark.slow
def test_torch_compile_is_timed_and_its_compilation_recorded():
    """The one test that compiles (about 15 s on 2 cores): compile_seconds holds the compilation."""
    _, results = measure_alone(tiny(), (6,), [4], "cpu", 1, FAST, backend="compile")
    assert results[0].status == "ok", results[0].error
    compile_seconds = results[0].values["compile_seconds"][0]
    latency_seconds = results[0].values["latency_p50_ms"][0] / 1000
    assert compile_seconds > 100 * latency_seconds
