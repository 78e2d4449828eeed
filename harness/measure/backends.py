"""How a model runs while it is timed: eager PyTorch, TorchScript, ``torch.export``, ``torch.compile``, ONNX Runtime.

:func:`prepare` turns an eager model into the callable that the latency loop
times, from an example input (the batch dimension is kept dynamic, so one
prepared model serves every batch size):

- ``eager``: the model as it is.
- ``torchscript``: ``torch.jit.trace`` then ``torch.jit.freeze`` (a model that
  is already TorchScript is frozen as it is).
- ``export``: ``torch.export.export`` with a dynamic batch dimension; its ``.module()``.
- ``compile``: ``torch.compile`` (inductor); compilation happens in the first
  call at each new shape, which :func:`first_call_seconds` times.
- ``onnx``: ``torch.onnx.export(dynamo=True)`` to a temporary file, run by an
  ``onnxruntime.InferenceSession`` on the CPU with the measurement's thread
  count. Needs the optional extra ``pip install -e '.[onnx]'``.

A backend that cannot run a model raises :class:`BackendUnavailable` (the
cells are ``skipped``: onnxruntime is not installed, ONNX Runtime on a cuda
device) or the converter's own exception (the cells are errors, with its message).

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
>>> x = torch.randn(5, 4)
>>> scripted = prepare(model, "torchscript", x, threads=1)
>>> torch.allclose(scripted(x), model(x))
True
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from harness.errors import install_command

BACKENDS = ("eager", "torchscript", "export", "compile", "onnx")
Runner = Callable[[Tensor], Any]


class BackendUnavailable(Exception):
    """This backend cannot run here (a missing package, a device it does not serve): the cells are skipped."""


def _two_rows(example: Tensor) -> Tensor:
    """An example of batch size 2: exporters specialise a batch dimension of size 1 to a constant."""
    return example[:1].expand(2, *example.shape[1:]).contiguous()


def _dynamic_batch(example: Tensor) -> tuple[dict[int, Any]]:
    return ({0: torch.export.Dim.AUTO},)


def _torchscript(model: nn.Module, example: Tensor) -> Runner:
    with torch.no_grad(), warnings.catch_warnings():  # TorchScript is deprecated upstream (torch 2.10+), still served
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = model if isinstance(model, torch.jit.ScriptModule) else torch.jit.trace(model, example,
                                                                                           check_trace=False)
        return torch.jit.freeze(scripted.eval())


def _export(model: nn.Module, example: Tensor) -> Runner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (_two_rows(example),), dynamic_shapes=_dynamic_batch(example))
    return program.module()


class OnnxRuntimeModel:
    """An ONNX Runtime session called like a model: float or int64 tensor in, numpy output out."""

    def __init__(self, path: Path, threads: int | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: Tensor) -> Any:
        return self.session.run(None, {self.input_name: x.numpy()})[0]


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from these loggers while the block runs (the ONNX exporter's notes on torchvision ops
    and constant folding go to stderr otherwise); their levels are restored after."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _onnx(model: nn.Module, example: Tensor, threads: int | None) -> Runner:
    if example.device.type != "cpu":
        raise BackendUnavailable("the onnx backend runs ONNX Runtime on the CPU; measure it on device cpu")
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"{exc.name} is not installed ({install_command('onnx')})") from None
    folder = Path(tempfile.mkdtemp(prefix="harness-onnx-"))
    path = folder / "model.onnx"
    with warnings.catch_warnings(), _quiet_loggers("torch.onnx", "onnxscript"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (_two_rows(example),), dynamo=True, verbose=False,
                                    dynamic_shapes=_dynamic_batch(example))
        assert program is not None  # dynamo=True returns the program
        program.save(str(path))
    return OnnxRuntimeModel(path, threads)


def prepare(model: nn.Module, backend: str, example: Tensor, threads: int | None) -> Runner:
    """``model`` as ``backend`` runs it, prepared from ``example`` (on the measuring device)."""
    if backend == "eager":
        return model
    if backend == "torchscript":
        return _torchscript(model, example)
    if backend == "export":
        return _export(model, example)
    if backend == "compile":
        return torch.compile(model)
    if backend == "onnx":
        return _onnx(model, example, threads)
    raise ValueError(f"unknown backend {backend!r} (allowed: {', '.join(BACKENDS)})")


def first_call_seconds(runner: Runner, example: Tensor) -> float:
    """Seconds of one call (the first at this shape: where ``torch.compile`` compiles), synchronised on CUDA."""
    started = time.perf_counter()
    with torch.inference_mode():
        runner(example)
    if example.device.type == "cuda":
        torch.cuda.synchronize(example.device)
    return time.perf_counter() - started
