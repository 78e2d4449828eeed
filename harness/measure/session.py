"""The measuring process's side of a cell: one model, prepared once, then timed one round at a time.

A :class:`Session` builds its inputs, prepares the model for its backend
(``compile_seconds``) and measures memory when it opens; after that each
call of :meth:`Session.round` times one window at one batch size: the first
window of a batch size after a full warm-up (until timings settle), every
later one after a short re-warm, since another model's process has just had
the CPU and the caches hold its data, not this model's. The re-warm's
forwards are run, never recorded.

:func:`serve` is the measuring process's main loop: it opens a session,
reports what set-up measured, then answers one command at a time from the
parent (a batch size to time a window of, a serving run
(:class:`~harness.measure.loadgen.LoadRun`) to serve, or ``None`` to stop), blocking on
the pipe in between so that an idle process takes no CPU from the one being
timed.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import torch
from torch import nn

from harness.errors import one_line
from harness.measure.batch import BatchResult, make_input, prepare_backend, put_gpu, put_memory, record_failure
from harness.measure.gpu import GpuSampler, GpuTelemetry, nvml_device_id, nvml_status
from harness.measure.latency import LatencySettings, make_timer, prepare_example, warm_up
from harness.measure.loadgen import LoadOutcome, LoadRun, LoadSpec, serve_queries
from harness.measure.rss import RssBreakdown, rss_breakdown
from harness.measure.size import model_dtype
from harness.measure.threads import torch_threads
from harness.rows import SINGLE_STREAM


@dataclass(frozen=True)
class CellRequest:
    """How every model of one cell is timed: the same request for each model's process.

    ``timeout`` bounds one model's whole measurement (set-up and all its
    windows); ``seed`` seeds the random inputs, the same for every model.
    ``load`` is how queries arrive in a serving scenario (offline or server,
    :mod:`harness.measure.serving`); None is closed-loop timing
    (``single_stream``: one batch, wait, the next). A scenario cell's
    ``batch_sizes`` is its ``max_batch`` alone.
    """

    input_shape: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    device: str = "cpu"
    threads: int | None = None
    settings: LatencySettings = LatencySettings()
    include_h2d: bool = False
    timeout: float | None = None
    backend: str = "eager"
    token_range: tuple[int, int] | None = None
    seed: int = 0
    load: LoadSpec | None = None

    @property
    def scenario(self) -> str:
        """single_stream, offline or server: the rows of the cell carry it."""
        return SINGLE_STREAM if self.load is None else self.load.scenario

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")


#: a window's timed forwards (ms) and, on cuda with NVML, the GPU telemetry over exactly that window
Window = tuple[list[float], GpuTelemetry | None]
SamplerFactory = Callable[[str], AbstractContextManager[Any]]


def nvml_sampler(device: str) -> GpuSampler:
    return GpuSampler(nvml_device_id(torch.device(device).index or 0))


class Session:
    """One model prepared for one cell, timed a window at a time; a context manager (threads are set
    for its lifetime). ``sampler``: how a cuda window's NVML telemetry is taken (injectable for tests)."""

    def __init__(self, model: nn.Module, request: CellRequest, *, sampler: SamplerFactory | None = None,
                 gpu_reason: str | None = None):
        self.model, self.request = model, request
        #: NVML windows are taken on cuda, or wherever a sampler is given (the tests' fake NVML)
        self.sampler = sampler or (nvml_sampler if request.on_cuda else None)
        if gpu_reason is None:
            gpu_reason = (nvml_status() or "") if request.on_cuda else \
                f"GPU telemetry applies to cuda devices, not {request.device}"
        self.gpu_reason = gpu_reason
        self.results = {b: BatchResult(b) for b in request.batch_sizes}
        self.threads: int | None = None
        self.cpus: list[int] = []
        self._timers: dict[int, Callable[[], float]] = {}
        self._warm: set[int] = set()
        #: a scenario cell's prepared model and its input of max_batch queries (sliced for smaller batches)
        self._runner: Any = None
        self._example: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Session:
        self.cpus = self._stack.enter_context(pinned_to_shared_cpus(self.request.threads))
        self.threads = self._stack.enter_context(torch_threads(self.request.threads))
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        request, on_cuda = self.request, self.request.on_cuda
        model = self.model.to(request.device).eval()
        dtype = model_dtype(model) if request.token_range is None else None  # token ids stay int64
        generator = torch.Generator().manual_seed(request.seed)
        examples: dict[int, torch.Tensor] = {}
        hosts: dict[int, torch.Tensor | None] = {}
        for batch_size in request.batch_sizes:
            try:
                cpu_example = make_input(batch_size, request.input_shape, generator, request.token_range)
                examples[batch_size], hosts[batch_size] = prepare_example(cpu_example, request.device, dtype,
                                                                          include_h2d=request.include_h2d)
            except Exception as exc:  # an input that does not fit is that batch size's failure
                record_failure(self.results[batch_size], exc, on_cuda)
        runner = prepare_backend(model, request.backend, examples, self.results, self.threads, on_cuda)
        if runner is None:
            return
        if request.load is not None:  # a scenario cell measures latency under load, not memory
            batch_size = request.batch_sizes[0]
            if batch_size in examples:
                self._runner, self._example = runner, (examples[batch_size], hosts[batch_size])
            return
        rss = self._resident_memory(model, runner, examples)
        for batch_size, example in list(examples.items()):
            result = self.results[batch_size]
            try:
                put_memory(result, model, runner, example, rss.get(batch_size))
            except Exception as exc:  # this batch size fails; the others go on
                record_failure(result, exc, on_cuda)
                continue
            if self.gpu_reason:
                put_gpu(result, None, self.gpu_reason)
            self._timers[batch_size] = make_timer(runner, example, hosts[batch_size])

    def _resident_memory(self, model: nn.Module, runner: Any,
                         examples: dict[int, torch.Tensor]) -> dict[int, RssBreakdown]:
        """Process RSS per batch size (eager on cpu), first, before any other batch size has run."""
        rss: dict[int, RssBreakdown] = {}
        if runner is not model or self.request.on_cuda:
            return rss
        for batch_size, example in list(examples.items()):
            try:
                rss[batch_size] = rss_breakdown(model, example)
            except Exception as exc:  # this batch size fails; the sweep goes on
                record_failure(self.results[batch_size], exc, on_cuda=False)
                del examples[batch_size]
        return rss

    def round(self, batch_size: int) -> Window:
        """Warm up (fully the first time, a re-warm after that), then time one window of ``round_seconds``."""
        settings, time_one = self.request.settings, self._timers[batch_size]
        with torch.inference_mode():
            if batch_size in self._warm:
                rewarm(time_one, settings)
            else:
                warm_up(time_one, settings)
                self._warm.add(batch_size)
            if self.request.on_cuda:
                torch.cuda.synchronize(self.request.device)
            window = self.sampler(self.request.device) if self.sampler and not self.gpu_reason else None
            with window if window is not None else nullcontext():
                samples = timed_window(time_one, settings.round_seconds)
        return samples, getattr(window, "telemetry", None)

    def load(self, run: LoadRun) -> LoadOutcome:
        """Serve one run of queries (:func:`~harness.measure.loadgen.serve_queries`) after a warm-up at batch
        sizes 1 and ``max_batch`` (a full one the first time, a re-warm after)."""
        if self._example is None:
            raise RuntimeError("the model was not prepared for this cell")
        example, host = self._example
        on_cuda, device = self.request.on_cuda, self.request.device

        def forward(size: int) -> None:
            self._runner(example[:size] if host is None else host[:size].to(device, non_blocking=True))
            if on_cuda:
                torch.cuda.synchronize(device)

        with torch.inference_mode():
            for size in sorted({1, run.max_batch}):
                time_one = make_timer(self._runner, example[:size], None if host is None else host[:size])
                (rewarm(time_one, self.request.settings) if size in self._warm else
                 warm_up(time_one, self.request.settings))
                self._warm.add(size)
            return serve_queries(forward, run)

    def failure(self, batch_size: int, exc: BaseException) -> tuple[str, str]:
        """(status, reason) of a window that raised: out of memory or unsupported is a skip, the rest errors."""
        result = BatchResult(batch_size)
        record_failure(result, exc, self.request.on_cuda)
        self._timers.pop(batch_size, None)
        return result.status, result.error


@contextlib.contextmanager
def pinned_to_shared_cpus(threads: int | None) -> Iterator[list[int]]:
    """Pin this (measuring) process to the last ``threads`` CPUs it may use, for the block; yields them.

    Every model of a cell runs on the same CPUs, so that no model is timed on
    a core that another process (a neighbour's hyperthread, the parent) keeps
    busier than the others' core; the parent is not pinned and mostly runs
    elsewhere. ``threads`` None (torch's default), at least as many as the
    CPUs there are, or a platform without ``sched_setaffinity``: not pinned
    (every allowed CPU is yielded). The previous affinity is restored.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield list(range(os.cpu_count() or 1))
        return
    allowed = sorted(os.sched_getaffinity(0))
    if threads is None or threads >= len(allowed):
        yield allowed
        return
    os.sched_setaffinity(0, allowed[-threads:])
    try:
        yield allowed[-threads:]
    finally:
        os.sched_setaffinity(0, allowed)


def rewarm(time_one: Callable[[], float], settings: LatencySettings) -> int:
    """Untimed forwards until ``rewarm_seconds`` have passed and at least ``rewarm_iters`` (at least one) ran."""
    started, iters = time.perf_counter(), 0
    while iters < max(1, settings.rewarm_iters) or time.perf_counter() - started < settings.rewarm_seconds:
        time_one()
        iters += 1
    return iters


def timed_window(time_one: Callable[[], float], seconds: float) -> list[float]:
    """Forwards timed one by one until ``seconds`` have passed (at least one)."""
    samples: list[float] = []
    started = time.perf_counter()
    while not samples or time.perf_counter() - started < seconds:
        samples.append(time_one())
    return samples


def to_payload(model: nn.Module) -> tuple[str, bytes]:
    """The model as bytes for the measuring process: TorchScript is saved (it does not pickle), the rest pickled
    (multiprocessing's own pickler moves tensors through shared memory, which int8 storages do not support)."""
    if isinstance(model, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # deprecated upstream, still served
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(model, buffer)
        return "torchscript", buffer.getvalue()
    return "pickle", pickle.dumps(model)


def from_payload(payload: tuple[str, bytes]) -> nn.Module:
    kind, data = payload
    with warnings.catch_warnings():  # torch.jit is deprecated; unpickling int8 modules warns about TypedStorage
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.jit.load(io.BytesIO(data), map_location="cpu") if kind == "torchscript" else pickle.loads(data)


def serve(conn: Connection, payload: tuple[str, bytes], request: CellRequest) -> None:
    """The measuring process: ``("ready", threads, set-up results)``, then one reply per command:
    ``("ok", window)`` or ``("failed", status, reason)``; ``("error", reason)`` if it cannot go on."""
    try:
        model = from_payload(payload)
        # Everything alive now (torch, the model) stays: the memory measurements' gc.collect() calls then
        # scan only what the measurement itself creates (about 0.1 s a call otherwise, several per batch size).
        gc.freeze()
        with Session(model, request) as session:
            conn.send(("ready", session.threads, session.results))
            while (command := conn.recv()) is not None:  # a batch size to time a window of, or a serving run
                batch_size = command.max_batch if isinstance(command, LoadRun) else command
                try:
                    conn.send(("ok", session.load(command) if isinstance(command, LoadRun) else
                               session.round(command)))
                except Exception as exc:  # this batch size fails; the process serves the others
                    conn.send(("failed", *session.failure(batch_size, exc)))
    except BaseException as exc:  # everything goes back to the parent as one line
        with contextlib.suppress(OSError):  # a parent that is gone (Ctrl-C) hears nothing, and needs nothing
            conn.send(("error", one_line(exc)))
    finally:
        conn.close()
