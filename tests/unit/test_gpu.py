"""NVML telemetry driven by a fake NVML module that follows pynvml's API, with exact expected numbers."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.measure import gpu
from harness.measure.gpu import GpuSample, GpuSampler, nvml_driver_info, nvml_status, telemetry_from_samples


class FakeNVMLError(Exception):
    """pynvml.NVMLError: the base class of every NVML error."""


class FakeNVMLErrorNotSupported(FakeNVMLError):
    """pynvml.NVMLError_NotSupported."""


@dataclass
class Utilization:  # pynvml's c_nvmlUtilization_t: .gpu and .memory, in percent
    gpu: int
    memory: int


@dataclass
class Memory:  # c_nvmlMemory_t, in bytes
    total: int
    free: int
    used: int


@dataclass
class Process:  # c_nvmlProcessInfo_t: usedGpuMemory is None when NVML cannot tell
    pid: int
    usedGpuMemory: int | None


class FakeClock:
    """Returns 0.0, 0.25, 0.5, ... (exact binary fractions); ``now`` is the last value returned."""

    STEP = 0.25

    def __init__(self) -> None:
        self.ticks = -1
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.ticks += 1
            return self.ticks * self.STEP

    @property
    def now(self) -> float:
        return max(self.ticks, 0) * self.STEP


class FakeNVML:
    """A stand-in for the ``pynvml`` module: same function names, arguments and return shapes.

    Power rises linearly with the fake clock: 100 W + 40 W/s * t (reported in mW, as NVML does).
    Memory used grows 1 MiB per clock tick from 1 GiB. Utilisation is a constant 42%.
    """

    NVMLError = FakeNVMLError
    NVMLError_NotSupported = FakeNVMLErrorNotSupported

    def __init__(self, clock: FakeClock, *, energy_counter: list[int] | None = None, power: bool = True,
                 utilization: bool = True, processes: list[Process] | None = None, devices: int = 1,
                 init_error: Exception | None = None, fail_util_after: int | None = None):
        self.clock = clock
        self.energy_counter = list(energy_counter) if energy_counter is not None else None
        self.power, self.utilization = power, utilization
        self.processes = processes if processes is not None else []
        self.devices, self.init_error = devices, init_error
        self.fail_util_after = fail_util_after
        self.util_calls = 0
        self.inits = self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        if not 0 <= index < self.devices:
            raise FakeNVMLError("Invalid Argument")
        return ("handle", index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> tuple[str, str]:
        return ("handle", uuid)

    def nvmlDeviceGetName(self, handle: tuple) -> bytes:
        return b"Fake H100"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlDeviceGetUtilizationRates(self, handle: tuple) -> Utilization:
        self.util_calls += 1
        if self.fail_util_after is not None and self.util_calls > self.fail_util_after:
            raise RuntimeError("the driver went away")
        if not self.utilization:
            raise FakeNVMLErrorNotSupported("Not Supported")
        return Utilization(gpu=42, memory=7)

    def nvmlDeviceGetMemoryInfo(self, handle: tuple, version: int | None = None) -> Memory:
        used = 2**30 + 2**20 * self.clock.ticks
        return Memory(total=80 * 2**30, free=80 * 2**30 - used, used=used)

    def nvmlDeviceGetPowerUsage(self, handle: tuple) -> int:
        if not self.power:
            raise FakeNVMLErrorNotSupported("Not Supported")
        return int(100_000 + 40_000 * self.clock.now)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: tuple) -> int:
        if self.energy_counter is None:
            raise FakeNVMLErrorNotSupported("Not Supported")
        return self.energy_counter.pop(0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: tuple) -> list[Process]:
        return self.processes


def sample_window(nvml: FakeNVML, clock: FakeClock, seconds: float = 0.1, **kwargs) -> GpuSampler:
    sampler = GpuSampler(0, period_s=0.01, nvml=nvml, clock=clock, **kwargs)
    with sampler:
        time.sleep(seconds)
    return sampler


# --- the sampler over a fake NVML ------------------------------------------


def test_energy_comes_from_the_counter_where_supported():
    clock = FakeClock()
    nvml = FakeNVML(clock, energy_counter=[5_000_000, 5_123_456])  # mJ at entry and exit
    telemetry = sample_window(nvml, clock).telemetry
    assert telemetry.energy_j == 123.456
    assert telemetry.energy_source == "counter"
    assert telemetry.util_pct_mean == 42.0
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_energy_is_power_integrated_over_time_without_a_counter():
    clock = FakeClock()
    telemetry = sample_window(FakeNVML(clock), clock).telemetry
    # Readings at t = 0, 0.25, ..., T. Power is linear in t, so trapezoids are exact:
    # energy = integral of (100 + 40 t) dt from 0 to T = 100 T + 20 T^2; mean power = 100 + 20 T.
    span = telemetry.seconds
    assert telemetry.samples >= 3 and span == (telemetry.samples - 1) * FakeClock.STEP
    assert telemetry.energy_source == "integrated"
    assert telemetry.energy_j == 100 * span + 20 * span**2
    assert telemetry.power_w_mean == 100 + 20 * span
    assert telemetry.util_pct_mean == 42.0
    assert telemetry.memory_used_max_bytes == 2**30 + 2**20 * (telemetry.samples - 1)
    assert telemetry.energy_j_per_item(1000) == telemetry.energy_j / 1000


def test_readings_span_the_block_and_the_thread_keeps_sampling():
    clock = FakeClock()
    telemetry = sample_window(FakeNVML(clock), clock, seconds=0.2).telemetry
    # one reading at entry, one at exit, and the thread's every 10 ms in between (at least a few)
    assert 5 <= telemetry.samples <= 2 + 0.2 / 0.01 + 5


def test_nothing_unsupported_is_reported_as_zero():
    clock = FakeClock()
    telemetry = sample_window(FakeNVML(clock, power=False, utilization=False), clock).telemetry
    assert telemetry.energy_j is None and telemetry.energy_source is None
    assert telemetry.power_w_mean is None and telemetry.util_pct_mean is None
    assert telemetry.process_memory_bytes is None
    assert telemetry.energy_j_per_item(10) is None
    assert telemetry.memory_used_max_bytes is not None


def test_process_memory_is_this_process_entry():
    clock = FakeClock()
    others = [Process(pid=1, usedGpuMemory=999), Process(pid=os.getpid(), usedGpuMemory=300 * 2**20)]
    assert sample_window(FakeNVML(clock, processes=others), clock).telemetry.process_memory_bytes == 300 * 2**20
    hidden = [Process(pid=os.getpid(), usedGpuMemory=None)]
    assert sample_window(FakeNVML(clock, processes=hidden), clock).telemetry.process_memory_bytes is None


def test_a_counter_that_went_backwards_falls_back_to_integration():
    clock = FakeClock()
    telemetry = sample_window(FakeNVML(clock, energy_counter=[9_000, 1_000]), clock).telemetry
    assert telemetry.energy_source == "integrated"


def test_the_thread_sleeps_between_readings():
    clock = FakeClock()
    cpu_before = time.process_time()
    sample_window(FakeNVML(clock), clock, seconds=0.3)
    assert time.process_time() - cpu_before < 0.1  # a spinning thread would burn ~0.3 s of CPU


def test_a_failing_thread_is_reported_at_exit_and_nvml_is_shut_down():
    clock = FakeClock()
    nvml = FakeNVML(clock, fail_util_after=1)  # the entry reading works, the thread's first one raises
    with pytest.raises(RuntimeError, match="sampler thread failed"):
        sample_window(nvml, clock, seconds=0.05)
    assert nvml.shutdowns == nvml.inits == 1


def test_an_exception_in_the_block_goes_on_and_nvml_is_shut_down():
    clock = FakeClock()
    nvml = FakeNVML(clock)
    sampler = GpuSampler(0, period_s=0.01, nvml=nvml, clock=clock)
    with pytest.raises(KeyError):
        with sampler:
            raise KeyError("boom")
    assert (nvml.inits, nvml.shutdowns) == (1, 1)
    with pytest.raises(RuntimeError):
        _ = sampler.telemetry


def test_an_unknown_device_raises_and_shuts_nvml_down():
    nvml = FakeNVML(FakeClock())
    with pytest.raises(FakeNVMLError):
        with GpuSampler(3, nvml=nvml):
            pass
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_telemetry_only_after_the_block_and_period_is_bounded():
    clock = FakeClock()
    sampler = GpuSampler("GPU-1234", nvml=FakeNVML(clock), clock=clock)
    with pytest.raises(RuntimeError):
        _ = sampler.telemetry
    with sampler:
        pass
    assert sampler.telemetry.samples == 2  # entry and exit (the 50 ms period never elapsed)
    with pytest.raises(ValueError):
        GpuSampler(0, period_s=0.2, nvml=FakeNVML(clock))


# --- aggregation -----------------------------------------------------------


def test_time_weighted_means_and_trapezoid_energy_are_pinned():
    readings = [GpuSample(0.0, 10.0, 5, 100.0), GpuSample(0.5, 30.0, 9, None), GpuSample(2.0, 30.0, 7, 300.0)]
    telemetry = telemetry_from_samples(readings)
    assert telemetry.util_pct_mean == (20.0 * 0.5 + 30.0 * 1.5) / 2.0  # 27.5
    assert telemetry.power_w_mean == 200.0  # readings without power are skipped: (100 + 300) / 2 over 2 s
    assert (telemetry.energy_j, telemetry.energy_source) == (400.0, "integrated")
    assert (telemetry.seconds, telemetry.samples, telemetry.memory_used_max_bytes) == (2.0, 3, 9)


def test_a_single_reading_has_means_but_no_integrated_energy():
    telemetry = telemetry_from_samples([GpuSample(1.0, 55.0, 1, 120.0)])
    assert (telemetry.util_pct_mean, telemetry.power_w_mean, telemetry.energy_j) == (55.0, 120.0, None)
    assert telemetry_from_samples([GpuSample(1.0, 55.0, 1, 120.0)], counter_energy_j=3.5).energy_j == 3.5


# --- nvml_status and driver info -------------------------------------------


def test_nvml_status_is_none_when_nvml_works():
    nvml = FakeNVML(FakeClock())
    assert nvml_status(nvml) is None
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_nvml_status_reasons():
    assert nvml_status(FakeNVML(FakeClock(), init_error=FakeNVMLError("Driver Not Loaded"))) == (
        "NVML unavailable: Driver Not Loaded")
    assert nvml_status(FakeNVML(FakeClock(), devices=0)) == "NVML found no GPU"


def test_nvml_status_when_the_package_is_missing(monkeypatch):
    def missing():
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(gpu, "_import_nvml", missing)
    assert nvml_status() == "nvidia-ml-py is not installed (No module named 'pynvml')"


def test_nvml_status_on_this_host_answers_without_raising():
    reason = nvml_status()
    known = ("nvidia-ml-py is not installed", "NVML unavailable: ", "NVML could not count devices: ",
             "NVML found no GPU")
    if not Path("/dev/nvidiactl").exists():  # no driver: one of the reasons, never None
        assert isinstance(reason, str) and reason.startswith(known), reason
    else:  # a driver: NVML works (None), or it says which step failed
        assert reason is None or reason.startswith(known), reason


def test_driver_info():
    assert nvml_driver_info(FakeNVML(FakeClock(), devices=2)) == {
        "driver": "580.159.04", "gpus": ["Fake H100", "Fake H100"]}
    assert nvml_driver_info(FakeNVML(FakeClock(), devices=0)) is None
