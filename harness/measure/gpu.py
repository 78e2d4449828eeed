"""GPU telemetry from NVML (nvidia-ml-py): utilisation, memory, power and energy over a window.

:class:`GpuSampler` is a context manager around the window to observe (the
timed loop of one batch size): a daemon thread reads utilisation, memory used
and power every ``period_s`` (blocking on ``Event.wait`` in between, never
spinning), and energy comes from the device's total-energy counter read at
both ends, or, where the device has no such counter, from the power readings
integrated over time (trapezoids). Readings the device does not support stay
None: nothing unmeasured is ever reported as 0.

>>> reason = nvml_status()  # None where NVML works; otherwise why it does not
>>> reason is None or isinstance(reason, str)
True

Usage on a GPU host::

    with GpuSampler(nvml_device_id(0)) as sampler:
        run_the_window()
    sampler.telemetry.energy_j_per_item(n_forwards * batch_size)

The NVML module is injectable (``nvml=``) so tests drive it with a fake that
follows pynvml's API.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: NVML's utilisation is itself an average over 1/6 s to 1 s; sampling slower than this loses windows.
MAX_PERIOD_S = 0.1
DEFAULT_PERIOD_S = 0.05


def _import_nvml() -> Any:
    import pynvml

    return pynvml


def nvml_status(nvml: Any = None) -> str | None:
    """None when NVML works on this host and sees a GPU; otherwise the reason, as one line.

    Never raises: a missing package, a missing driver library, a failing
    ``nvmlInit`` and a host with no device are all reasons.
    """
    try:
        module = nvml if nvml is not None else _import_nvml()
    except ImportError as exc:
        return f"nvidia-ml-py is not installed ({exc})"
    try:
        module.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses; a broken install may raise others
        return f"NVML unavailable: {exc}"
    try:
        count = module.nvmlDeviceGetCount()
    except Exception as exc:
        return f"NVML could not count devices: {exc}"
    finally:
        module.nvmlShutdown()
    return None if count > 0 else "NVML found no GPU"


def nvml_device_id(cuda_index: int, visible: str | None = None) -> int | str:
    """The NVML id (index or UUID) of the device torch calls ``cuda:{cuda_index}``.

    Torch numbers the devices listed in ``CUDA_VISIBLE_DEVICES`` (``visible``,
    read from the environment when None); NVML numbers every device. An entry
    that is not a number (a ``GPU-...`` UUID) is returned as a string for
    ``nvmlDeviceGetHandleByUUID``.

    >>> nvml_device_id(1, visible="3,5"), nvml_device_id(0, visible="GPU-8f2e"), nvml_device_id(2, visible="")
    (5, 'GPU-8f2e', 2)
    """
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    entries = [entry.strip() for entry in visible.split(",") if entry.strip()]
    if not entries:
        return cuda_index
    entry = entries[cuda_index]
    return int(entry) if entry.isdigit() else entry


def nvml_driver_info(nvml: Any = None) -> dict[str, Any] | None:
    """``{"driver": version, "gpus": [names]}`` from NVML, for a hardware fingerprint; None without NVML."""
    if nvml_status(nvml) is not None:
        return None
    module = nvml if nvml is not None else _import_nvml()
    module.nvmlInit()
    try:
        count = module.nvmlDeviceGetCount()
        names = [_text(module.nvmlDeviceGetName(module.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
        return {"driver": _text(module.nvmlSystemGetDriverVersion()), "gpus": names}
    finally:
        module.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class GpuSample:
    """One reading; a field the device does not report is None."""

    t: float
    util_pct: float | None
    memory_used_bytes: int | None
    power_w: float | None


@dataclass(frozen=True)
class GpuTelemetry:
    """What the sampler saw over one window (``seconds`` long, ``samples`` readings).

    ``util_pct_mean`` and ``power_w_mean`` are time-weighted means
    (trapezoids over the readings); ``energy_j`` comes from the energy
    counter (``energy_source="counter"``) or from integrating power
    (``"integrated"``); None means not measured, never 0.
    """

    seconds: float
    samples: int
    util_pct_mean: float | None
    power_w_mean: float | None
    energy_j: float | None
    energy_source: Literal["counter", "integrated"] | None
    memory_used_max_bytes: int | None
    process_memory_bytes: int | None

    def energy_j_per_item(self, items: int) -> float | None:
        """Energy per processed item (e.g. forwards x batch size); None when energy was not measured."""
        if items < 1:
            raise ValueError(f"items must be >= 1, got {items}")
        return None if self.energy_j is None else self.energy_j / items


def _integral(times: Sequence[float], values: Sequence[float]) -> float:
    return sum((values[i] + values[i + 1]) / 2.0 * (times[i + 1] - times[i]) for i in range(len(times) - 1))


def _time_weighted_mean(samples: Sequence[GpuSample], field: str) -> float | None:
    points = [(s.t, getattr(s, field)) for s in samples if getattr(s, field) is not None]
    if not points:
        return None
    times, values = zip(*points, strict=True)
    span = times[-1] - times[0]
    if span <= 0:
        return sum(values) / len(values)
    return _integral(times, values) / span


def telemetry_from_samples(samples: Sequence[GpuSample], counter_energy_j: float | None = None,
                           process_memory_bytes: int | None = None) -> GpuTelemetry:
    """Aggregate readings (in time order) into :class:`GpuTelemetry`.

    Energy is ``counter_energy_j`` when given; otherwise the trapezoid
    integral of power over the readings that have it (at least two).

    >>> readings = [GpuSample(0.0, 50.0, 100, 100.0), GpuSample(1.0, 70.0, 300, 200.0),
    ...             GpuSample(3.0, 70.0, 200, 200.0)]
    >>> t = telemetry_from_samples(readings)
    >>> t.util_pct_mean, t.power_w_mean, t.energy_j, t.energy_source, t.memory_used_max_bytes
    (66.66666666666667, 183.33333333333334, 550.0, 'integrated', 300)
    """
    if not samples:
        raise ValueError("telemetry needs at least one reading")
    powered = [(s.t, s.power_w) for s in samples if s.power_w is not None]
    energy: float | None = counter_energy_j
    source: Literal["counter", "integrated"] | None = "counter" if energy is not None else None
    if energy is None and len(powered) >= 2:
        times, watts = zip(*powered, strict=True)
        energy, source = _integral(times, watts), "integrated"
    memory = [s.memory_used_bytes for s in samples if s.memory_used_bytes is not None]
    return GpuTelemetry(
        seconds=samples[-1].t - samples[0].t,
        samples=len(samples),
        util_pct_mean=_time_weighted_mean(samples, "util_pct"),
        power_w_mean=_time_weighted_mean(samples, "power_w"),
        energy_j=energy,
        energy_source=source,
        memory_used_max_bytes=max(memory) if memory else None,
        process_memory_bytes=process_memory_bytes,
    )


class GpuSampler:
    """Sample one GPU through NVML while a ``with`` block runs; the result is :attr:`telemetry`.

    ``device`` is an NVML index or UUID (see :func:`nvml_device_id`).
    Readings are taken at entry, every ``period_s`` (at most 0.1 s) by a
    daemon thread, and at exit, so the readings span the block exactly.
    The energy counter and this process's GPU memory are read at entry and
    exit. ``clock`` (seconds) is injectable for tests. Raises the NVML error
    if NVML cannot start or the device does not exist: check
    :func:`nvml_status` first to record a reason instead.
    """

    def __init__(self, device: int | str = 0, period_s: float = DEFAULT_PERIOD_S, *, nvml: Any = None,
                 clock: Callable[[], float] = time.perf_counter, pid: int | None = None):
        if not 0 < period_s <= MAX_PERIOD_S:
            raise ValueError(f"period_s must be in (0, {MAX_PERIOD_S}], got {period_s}")
        self.device, self.period_s, self.clock = device, period_s, clock
        self.pid = os.getpid() if pid is None else pid
        self._nvml = nvml if nvml is not None else _import_nvml()
        self._handle: Any = None
        self._samples: list[GpuSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._telemetry: GpuTelemetry | None = None

    @property
    def telemetry(self) -> GpuTelemetry:
        if self._telemetry is None:
            raise RuntimeError("telemetry is available once the with-block has ended")
        return self._telemetry

    def __enter__(self) -> GpuSampler:
        nvml = self._nvml
        nvml.nvmlInit()
        try:
            if isinstance(self.device, str):
                self._handle = nvml.nvmlDeviceGetHandleByUUID(self.device)
            else:
                self._handle = nvml.nvmlDeviceGetHandleByIndex(self.device)
            self._samples, self._telemetry, self._thread_error = [], None, None
            self._stop.clear()
            self._energy_start = self._energy_mj()
            self._process_memory = [self._own_memory()]
            self._sample()
        except BaseException:
            nvml.nvmlShutdown()
            raise
        self._thread = threading.Thread(target=self._run, name="harness-gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if exc_info[0] is not None:  # the block failed: no telemetry, its exception goes on
                return
            if self._thread_error is not None:
                raise RuntimeError(f"GPU sampler thread failed: {self._thread_error}") from self._thread_error
            self._sample()
            energy_end = self._energy_mj()
            self._process_memory.append(self._own_memory())
        finally:
            self._nvml.nvmlShutdown()
        counter_j = None
        if self._energy_start is not None and energy_end is not None and energy_end >= self._energy_start:
            counter_j = (energy_end - self._energy_start) / 1000.0
        known = [m for m in self._process_memory if m is not None]
        self._telemetry = telemetry_from_samples(self._samples, counter_j, max(known) if known else None)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.period_s):
                self._sample()
        except BaseException as exc:  # surfaced by __exit__
            self._thread_error = exc

    def _read(self, function: Callable[..., Any]) -> Any:
        """``function(handle)``, or None when NVML says it is not supported (or fails) on this device."""
        try:
            return function(self._handle)
        except self._nvml.NVMLError:
            return None

    def _sample(self) -> None:
        nvml = self._nvml
        t = self.clock()
        util = self._read(nvml.nvmlDeviceGetUtilizationRates)
        memory = self._read(nvml.nvmlDeviceGetMemoryInfo)
        power_mw = self._read(nvml.nvmlDeviceGetPowerUsage)
        self._samples.append(GpuSample(
            t=t,
            util_pct=None if util is None else float(util.gpu),
            memory_used_bytes=None if memory is None else int(memory.used),
            power_w=None if power_mw is None else power_mw / 1000.0,
        ))

    def _energy_mj(self) -> int | None:
        return self._read(self._nvml.nvmlDeviceGetTotalEnergyConsumption)

    def _own_memory(self) -> int | None:
        processes = self._read(self._nvml.nvmlDeviceGetComputeRunningProcesses) or []
        used = [p.usedGpuMemory for p in processes if p.pid == self.pid and p.usedGpuMemory is not None]
        return int(sum(used)) if used else None


def combine_windows(windows: Sequence[GpuTelemetry]) -> GpuTelemetry:
    """One model's telemetry over several windows (its paired rounds), as if it were one window of their
    summed length: means weighted by each window's seconds, energy summed (from the counter only when every
    window had it), memory the largest seen.

    >>> a = GpuTelemetry(1.0, 3, 50.0, 100.0, 100.0, "counter", 10, 5)
    >>> b = GpuTelemetry(3.0, 7, 90.0, 200.0, 600.0, "counter", 30, None)
    >>> t = combine_windows([a, b])
    >>> t.seconds, t.samples, t.util_pct_mean, t.power_w_mean, t.energy_j, t.energy_source, t.memory_used_max_bytes
    (4.0, 10, 80.0, 175.0, 700.0, 'counter', 30)
    """
    if not windows:
        raise ValueError("combine_windows needs at least one window")
    seconds = sum(w.seconds for w in windows)

    def mean(field: str) -> float | None:
        known = [(w.seconds, getattr(w, field)) for w in windows if getattr(w, field) is not None]
        span = sum(s for s, _ in known)
        if not known:
            return None
        return sum(s * v for s, v in known) / span if span > 0 else sum(v for _, v in known) / len(known)

    def largest(field: str) -> int | None:
        known = [getattr(w, field) for w in windows if getattr(w, field) is not None]
        return max(known) if known else None

    energies = [w.energy_j for w in windows]
    energy = None if any(e is None for e in energies) else float(sum(e for e in energies if e is not None))
    sources = {w.energy_source for w in windows}
    source: Literal["counter", "integrated"] | None = None
    if energy is not None:
        source = "counter" if sources == {"counter"} else "integrated"
    return GpuTelemetry(seconds=seconds, samples=sum(w.samples for w in windows), util_pct_mean=mean("util_pct_mean"),
                        power_w_mean=mean("power_w_mean"), energy_j=energy, energy_source=source,
                        memory_used_max_bytes=largest("memory_used_max_bytes"),
                        process_memory_bytes=largest("process_memory_bytes"))
