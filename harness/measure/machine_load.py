"""How busy the machine was while a run measured: other processes' CPU time, steal, load average, throttling.

A run's timings are only as steady as the machine under them: on a 2-core
machine with other jobs running (load average 4-5) the teacher/student
speedup of five unchanged runs spread over 1.42, against 1.07 idle.
:class:`LoadRecorder` wraps the measure phase and records, for the window:

- the CPU time **other processes** used: the system-wide busy CPU time
  (``psutil.cpu_times()``: user + nice + system + irq + softirq) minus the
  CPU time of this run's own process tree (this process and every
  descendant, the fork server's measuring processes included; a process
  already reaped counts through its parent's children times, so a
  measuring process that starts and ends inside the window is still this
  run's), as a share of wall time × logical cores;
- **steal** time (``psutil.cpu_times().steal``, Linux guests): CPU the
  hypervisor gave to other machines;
- the 1-minute **load average** (``os.getloadavg``) at the start, the end,
  and sampled every :data:`SAMPLE_SECONDS` by a thread that sleeps between
  samples (its largest value is kept);
- **thermal throttling** events
  (``/sys/devices/system/cpu/cpu*/thermal_throttle/core_throttle_count``),
  or "not readable here" where the kernel does not expose them.

pyperf's ``system show`` checks the same kinds of things before a benchmark;
this records what happened during one. The window is *contended*
(:func:`judge`) when other processes used over :data:`CONTENDED_OTHER_SHARE`
of the cores' time or steal took over :data:`CONTENDED_STEAL_SHARE`.
Every reading is an injectable function (:class:`Probes`), so the arithmetic
can be checked on exact numbers:

>>> readings = iter([(0.0, 100.0, 1.0, 10.0, 1.5, None), (2.0, 103.0, 1.1, 11.0, 3.0, None)])
>>> fake = Probes(read=lambda: next(readings), cores=2)
>>> with LoadRecorder(fake, sample_seconds=0) as recorder:
...     pass
>>> found = recorder.summary()
>>> found["other_cpu_seconds"], found["other_cpu_share"], found["contended"]
(2.0, 0.5, True)
>>> found["reason"]
'other processes used 50% of the CPU (load average 3.0)'
"""

from __future__ import annotations

import glob
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from harness.manifest import Manifest

#: Other processes used more than this share of all logical cores' time during the window: contended. An idle
#: machine reads a few percent (system daemons, the harness's own log writes counted as its own); a 2-core
#: machine with load average 4-5 from other jobs reads 50% or more, since every core this run leaves free is
#: taken and the run's own processes lose time slices. A quarter of the machine is where the spread of
#: unchanged runs' speedups was seen to grow, with room on either side for both kinds of machine.
CONTENDED_OTHER_SHARE = 0.25
#: The hypervisor took more than this share of the cores' time (steal): contended. A quiet virtual machine
#: steals under 1%; 5% is time slices lost often enough to move a millisecond-scale latency.
CONTENDED_STEAL_SHARE = 0.05
#: A window shorter than this is not judged: the kernel counts CPU time in 10 ms ticks, too coarse to share out.
MIN_WINDOW_SECONDS = 0.5
#: How often the sampling thread reads the load average (it sleeps in between; nothing spins).
SAMPLE_SECONDS = 5.0
#: What the manifest says about throttling where the kernel has no thermal_throttle counters.
NOT_READABLE = "not readable here"
#: How the figures are made, kept in every summary.
METHOD = ("other processes' CPU time = the system-wide busy CPU time (psutil.cpu_times: user + nice + system + irq "
          "+ softirq) minus this run's process tree (this process and its descendants, reaped ones through their "
          "parents' children times); share = that / (wall seconds x logical cores); steal from psutil.cpu_times; "
          "1-minute load average at start, end and every 5 s; throttling from the core_throttle_count counters; "
          f"contended: other processes over {CONTENDED_OTHER_SHARE:.0%} of the cores' time or steal over "
          f"{CONTENDED_STEAL_SHARE:.0%}")

#: one reading: (wall clock s, system busy CPU s, steal CPU s or None, own tree CPU s, 1-min load average,
#: throttle events or None)
Reading = tuple[float, float, float | None, float, float, int | None]


def system_cpu() -> tuple[float, float | None]:
    """(busy CPU seconds of the whole machine, steal seconds or None where the platform has no steal)."""
    times = psutil.cpu_times()
    total = sum(times)
    quiet = sum(getattr(times, name, 0.0) for name in ("idle", "iowait", "steal", "guest", "guest_nice"))
    return total - quiet, getattr(times, "steal", None)


def own_cpu() -> float:
    """CPU seconds of this process and all its descendants, each with the children it has reaped."""
    me = psutil.Process()
    total = 0.0
    for proc in (me, *me.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone between the listing and the reading
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def throttle_events(pattern: str = "/sys/devices/system/cpu/cpu*/thermal_throttle/core_throttle_count") -> int | None:
    """The sum of the cores' thermal throttling counters, or None where none is readable."""
    counts = []
    for path in glob.glob(pattern):
        try:
            with open(path, encoding="ascii") as handle:
                counts.append(int(handle.read().strip()))
        except (OSError, ValueError):
            continue
    return sum(counts) if counts else None


def read_now() -> Reading:
    busy, steal = system_cpu()
    return time.monotonic(), busy, steal, own_cpu(), os.getloadavg()[0], throttle_events()


@dataclass(frozen=True)
class Probes:
    """Where the readings come from: ``read`` gives one :data:`Reading`, ``loadavg`` the 1-minute load average
    for the sampling thread, ``cores`` the logical core count. Tests pass fakes."""

    read: Callable[[], Reading] = read_now
    loadavg: Callable[[], float] = field(default=lambda: os.getloadavg()[0])
    cores: int = field(default_factory=lambda: psutil.cpu_count(logical=True) or 1)


class LoadRecorder:
    """A context manager around the measure phase; :meth:`summary` is what the manifest's ``machine_load`` holds."""

    def __init__(self, probes: Probes | None = None, sample_seconds: float = SAMPLE_SECONDS):
        self.probes = probes or Probes()
        self.sample_seconds = sample_seconds
        self.start: Reading | None = None
        self.end: Reading | None = None
        #: the 1-minute load averages read during the window
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoadRecorder:
        self.start = self.probes.read()
        if self.sample_seconds > 0:
            self._thread = threading.Thread(target=self._sample, name="machine-load", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.end = self.probes.read()

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_seconds):
            self.sample()

    def sample(self) -> None:
        """Read the load average once more (the thread calls this every ``sample_seconds``)."""
        try:
            self.samples.append(float(self.probes.loadavg()))
        except OSError:
            pass

    def summary(self) -> dict[str, Any]:
        """The window's figures, the verdict and its reason (see :func:`judge`)."""
        if self.start is None or self.end is None:
            raise RuntimeError("LoadRecorder.summary() needs a finished window (use it as a context manager)")
        (t0, busy0, steal0, own0, load0, throttle0), (t1, busy1, steal1, own1, load1, throttle1) = self.start, self.end
        wall, cores = t1 - t0, self.probes.cores
        own = max(0.0, own1 - own0)
        other = max(0.0, busy1 - busy0 - own)
        steal = None if steal0 is None or steal1 is None else max(0.0, steal1 - steal0)
        capacity = wall * cores
        found: dict[str, Any] = {
            "wall_seconds": round(wall, 3), "cores": cores, "loadavg_start": round(load0, 2),
            "loadavg_end": round(load1, 2), "loadavg_max": round(max([load0, load1, *self.samples]), 2),
            "own_cpu_seconds": round(own, 3), "other_cpu_seconds": round(other, 3),
            "other_cpu_share": round(other / capacity, 4) if capacity > 0 else None,
            "steal_seconds": None if steal is None else round(steal, 3),
            "steal_share": None if steal is None or capacity <= 0 else round(steal / capacity, 4),
            "throttle": NOT_READABLE if throttle0 is None or throttle1 is None else max(0, throttle1 - throttle0),
            "method": METHOD,
        }
        contended, reason = judge(found)
        return {**found, "contended": contended, "reason": reason}


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def judge(summary: Mapping[str, Any]) -> tuple[bool, str]:
    """(contended, why) from a summary's figures: contended when other processes used over
    :data:`CONTENDED_OTHER_SHARE` of the cores' time or steal took over :data:`CONTENDED_STEAL_SHARE`. Throttling
    is recorded but not part of the rule (some CPUs count benign throttling events under any load).

    >>> judge({"wall_seconds": 60, "other_cpu_share": 0.03, "steal_share": 0.0, "loadavg_max": 0.4})
    (False, 'other processes used 3% of the CPU, steal 0% (contended: over 25% or steal over 5%)')
    >>> judge({"wall_seconds": 60, "other_cpu_share": 0.1, "steal_share": 0.08, "loadavg_max": 1.2})
    (True, 'the hypervisor took 8% of the CPU (steal time)')
    """
    wall, other, steal = (_number(summary.get(k)) for k in ("wall_seconds", "other_cpu_share", "steal_share"))
    if wall is None or wall < MIN_WINDOW_SECONDS or other is None:
        return False, f"not judged: the window was under {MIN_WINDOW_SECONDS} s or its CPU times were not read"
    load = _number(summary.get("loadavg_max"))
    said = []
    if other > CONTENDED_OTHER_SHARE:
        said.append(f"other processes used {other:.0%} of the CPU" + (f" (load average {load:.1f})" if load else ""))
    if steal is not None and steal > CONTENDED_STEAL_SHARE:
        said.append(f"the hypervisor took {steal:.0%} of the CPU (steal time)")
    if said:
        return True, " and ".join(said)
    stolen = "" if steal is None else f", steal {steal:.0%}"
    return False, (f"other processes used {other:.0%} of the CPU{stolen} (contended: over "
                   f"{CONTENDED_OTHER_SHARE:.0%} or steal over {CONTENDED_STEAL_SHARE:.0%})")


def contention(manifest: Manifest) -> str:
    """Why the run's timings were taken on a busy machine: "" when its manifest records an uncontended window
    or no load at all (older runs, executors other than local), else a short reason ("other processes used 62%
    of the CPU (load average 4.3)"). The rule is :func:`judge`'s, applied to the recorded figures."""
    recorded = manifest.machine_load
    if not recorded:
        return ""
    contended, reason = judge(recorded)
    return reason if contended else ""


def worst(summaries: list[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The most contended of several windows (a resumed run's, a merged run's shards'), with the run ids and
    shares of the others under ``windows`` when there were several; None when none was recorded."""
    found = [dict(s) for s in summaries if s]
    if not found:
        return None

    def badness(summary: Mapping[str, Any]) -> tuple[bool, float]:  # a window too short to judge counts least
        judged = (_number(summary.get("wall_seconds")) or 0.0) >= MIN_WINDOW_SECONDS
        return judge(summary)[0], (_number(summary.get("other_cpu_share")) or 0.0) if judged else -1.0

    chosen = max(found, key=badness)
    if len(found) == 1:
        return chosen
    windows = [w for s in found for w in (s.pop("windows", None) or [_brief(s)])]
    return {**chosen, "windows": windows}


def _brief(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in ("run_id", "wall_seconds", "other_cpu_share", "steal_share", "contended")}


def sentence(recorded: Mapping[str, Any] | None) -> str:
    """The report's machine line on load, from a manifest's ``machine_load``.

    >>> sentence(None)
    'Machine load while measuring: not recorded in this run.'
    >>> said = sentence({"wall_seconds": 42.0, "cores": 2, "other_cpu_share": 0.031, "steal_share": 0.0,
    ...                  "loadavg_start": 0.4, "loadavg_end": 0.6, "loadavg_max": 0.7, "throttle": "not readable here"})
    >>> for part in said.split(", "):
    ...     print(part)
    Machine load while measuring (42 s): other processes 3.1% of 2 cores
    steal 0.0%
    load average 0.4 to 0.6 (max 0.7)
    throttling not readable here; not contended (contended: other processes over 25% or steal over 5%).
    """
    if not recorded:
        return "Machine load while measuring: not recorded in this run."
    if _number(recorded.get("other_cpu_share")) is None:
        return f"Machine load while measuring: {recorded.get('reason') or 'not recorded in this run'}."
    other, steal = _number(recorded.get("other_cpu_share")) or 0.0, _number(recorded.get("steal_share"))
    throttle = recorded.get("throttle")
    parts = [f"other processes {other:.1%} of {recorded.get('cores', '?')} cores",
             "steal not reported" if steal is None else f"steal {steal:.1%}",
             f"load average {recorded.get('loadavg_start')} to {recorded.get('loadavg_end')} "
             f"(max {recorded.get('loadavg_max')})",
             f"throttling {throttle}" if isinstance(throttle, str) else f"{throttle} throttling events"]
    contended, reason = judge(recorded)
    verdict = f"contended: {reason}" if contended else (
        f"not contended (contended: other processes over {CONTENDED_OTHER_SHARE:.0%} or steal over "
        f"{CONTENDED_STEAL_SHARE:.0%})")
    wall = _number(recorded.get("wall_seconds"))
    return (f"Machine load while measuring{f' ({wall:.0f} s)' if wall else ''}: {', '.join(parts)}; {verdict}."
            + (f" The worst of {len(recorded['windows'])} windows (resumes or shards)." if recorded.get("windows")
               else ""))


def warning(manifest: Manifest) -> str:
    """The first screen's one-line warning for a contended run; "" otherwise."""
    why = contention(manifest)
    return (f"Measured while {why}: timings and speedups from this run are less precise than usual."
            if why else "")
