"""Machine load during measurement: the recorder's arithmetic on fake readings, the rule, the manifest field (old
manifests without it), merged shards, the report's machine line and first-screen warning, and two real windows
(other processes burning both cores, then an idle sleep)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.manifest import parse
from harness.measure import machine_load
from harness.measure.machine_load import (
    CONTENDED_OTHER_SHARE,
    CONTENDED_STEAL_SHARE,
    NOT_READABLE,
    LoadRecorder,
    Probes,
    contention,
    judge,
    throttle_events,
    worst,
)
from harness.merge import merged_machine_load
from harness.report import build_report, render_html, render_markdown
from harness.report.facts import machine_lines
from tests.unit.test_report import manifest, paired_results

BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


def fake(readings: list[tuple], cores: int = 2, loads: Iterator[float] | None = None) -> Probes:
    queue = iter(readings)
    return Probes(read=lambda: next(queue), loadavg=lambda: next(loads or iter([])), cores=cores)


def window(readings: list[tuple], cores: int = 2, samples: tuple[float, ...] = ()) -> dict:
    recorder = LoadRecorder(fake(readings, cores, iter(samples)), sample_seconds=0)
    with recorder:
        for _ in samples:
            recorder.sample()
    return recorder.summary()


# (wall s, system busy CPU s, steal s, own tree CPU s, 1-min load average, throttle events)
BUSY = [(10.0, 500.0, 2.0, 40.0, 4.1, 7), (20.0, 515.0, 2.2, 47.5, 4.4, 9)]
IDLE = [(10.0, 500.0, 2.0, 40.0, 0.3, None), (20.0, 509.0, 2.0, 48.6, 0.2, None)]


def test_other_processes_time_is_busy_time_less_the_runs_own_exactly():
    found = window(BUSY, samples=(4.3, 5.2))
    # 15 s busy over 10 s on 2 cores, 7.5 s of it this run's: 7.5 s other processes', 7.5 / 20 of the cores' time
    assert found["wall_seconds"] == 10.0 and found["cores"] == 2
    assert found["own_cpu_seconds"] == 7.5 and found["other_cpu_seconds"] == 7.5
    assert found["other_cpu_share"] == 0.375
    assert found["steal_seconds"] == 0.2 and found["steal_share"] == 0.01
    assert (found["loadavg_start"], found["loadavg_end"], found["loadavg_max"]) == (4.1, 4.4, 5.2)
    assert found["throttle"] == 2
    assert found["contended"] is True
    assert found["reason"] == "other processes used 38% of the CPU (load average 5.2)"
    assert "minus this run's process tree" in found["method"]


def test_an_idle_window_is_not_contended_and_unreadable_throttling_says_so():
    found = window(IDLE)
    assert found["other_cpu_seconds"] == 0.4 and found["other_cpu_share"] == 0.02
    assert found["steal_seconds"] == 0.0 and found["throttle"] == NOT_READABLE
    assert found["contended"] is False
    assert found["reason"] == "other processes used 2% of the CPU, steal 0% (contended: over 25% or steal over 5%)"


def test_own_time_over_busy_time_is_no_negative_share_and_a_missing_steal_is_none():
    found = window([(0.0, 10.0, None, 0.0, 0.1, None), (1.0, 10.5, None, 0.52, 0.1, None)], cores=1)
    assert found["other_cpu_seconds"] == 0.0 and found["other_cpu_share"] == 0.0
    assert found["steal_seconds"] is None and found["steal_share"] is None and found["contended"] is False


def test_the_rule_and_its_thresholds():
    assert (CONTENDED_OTHER_SHARE, CONTENDED_STEAL_SHARE) == (0.25, 0.05)
    just = {"wall_seconds": 60, "steal_share": 0.0, "loadavg_max": 1.0}
    assert judge({**just, "other_cpu_share": 0.25})[0] is False
    assert judge({**just, "other_cpu_share": 0.2501})[0] is True
    assert judge({**just, "other_cpu_share": 0.1, "steal_share": 0.05})[0] is False
    assert judge({**just, "other_cpu_share": 0.3, "steal_share": 0.06}) == (
        True, "other processes used 30% of the CPU (load average 1.0) and the hypervisor took 6% of the CPU "
              "(steal time)")
    short = judge({**just, "wall_seconds": 0.2, "other_cpu_share": 0.9})
    assert short[0] is False and short[1].startswith("not judged")


def test_no_throttle_counters_is_none(tmp_path: Path):
    assert throttle_events(str(tmp_path / "cpu*" / "core_throttle_count")) is None
    for cpu, count in ((0, "3\n"), (1, "4\n")):
        (tmp_path / f"cpu{cpu}").mkdir()
        (tmp_path / f"cpu{cpu}" / "core_throttle_count").write_text(count)
    assert throttle_events(str(tmp_path / "cpu*" / "core_throttle_count")) == 7


def test_an_old_manifest_loads_and_has_no_contention():
    old = manifest()  # the report tests' manifest: no machine_load, as every run before it
    assert old.machine_load is None and contention(old) == ""
    assert machine_lines(old)[-1] == "Machine load while measuring: not recorded in this run."
    bare = parse({"schema_version": 2, "run_id": "r1", "status": "complete", "suite_name": "q", "suite_hash": "",
                  "suite": {}}, "manifest.json")
    assert bare.machine_load is None and contention(bare) == ""


def test_contention_reads_the_recorded_figures():
    busy, idle = manifest(machine_load=window(BUSY)), manifest(machine_load=window(IDLE))
    assert contention(busy) == "other processes used 38% of the CPU (load average 4.4)"
    assert contention(idle) == ""
    assert parse(busy.model_dump(), "again.json").machine_load == busy.machine_load  # survives a round trip


def test_merged_shards_keep_the_worst_window_and_each_shares():
    shards = [manifest(run_id="a", machine_load=window(IDLE)), manifest(run_id="b", machine_load=window(BUSY)),
              manifest(run_id="c")]
    merged = merged_machine_load(shards)
    assert merged is not None and merged["run_id"] == "b" and merged["contended"] is True
    assert [(w["run_id"], w["other_cpu_share"], w["contended"]) for w in merged["windows"]] == [
        ("a", 0.02, False), ("b", 0.375, True)]
    assert merged_machine_load([manifest(run_id="c")]) is None
    resumed = worst([merged, window(IDLE)])  # a window of a resume after it: still the worst, every window listed
    assert resumed is not None and resumed["run_id"] == "b" and len(resumed["windows"]) == 3
    blip = window([(0.0, 10.0, 0.0, 0.0, 0.1, None), (0.1, 10.2, 0.0, 0.0, 0.1, None)])  # a resume with nothing left
    assert blip["other_cpu_share"] == 1.0 and blip["contended"] is False
    assert worst([window(IDLE), blip])["other_cpu_share"] == 0.02  # an unjudged window is not the worst


def _first_screen(markdown: str) -> str:
    return markdown.split("## Which student to ship", 1)[0]


def test_a_contended_run_says_so_on_the_first_screen_and_an_idle_one_does_not():
    busy = build_report(paired_results(), manifest(machine_load=window(BUSY)))
    said = ("Measured while other processes used 38% of the CPU (load average 4.4): timings and speedups from this "
            "run are less precise than usual.")
    assert busy.warning == said
    assert f"> **Warning:** {said}" in _first_screen(render_markdown(busy))
    page = render_html(busy)
    assert page.index("Warning:</strong> Measured while other processes used 38%") < page.index("Which student")
    assert any(line.startswith("Machine load while measuring (10 s): other processes 37.5% of 2 cores")
               and line.endswith("contended: other processes used 38% of the CPU (load average 4.4).")
               for line in busy.machine)
    for run in (manifest(machine_load=window(IDLE)), manifest()):
        idle = build_report(paired_results(), run)
        assert idle.warning == "" and "Warning" not in render_markdown(idle) and "Warning" not in render_html(idle)
    idle = build_report(paired_results(), manifest(machine_load=window(IDLE)))
    assert "Machine load while measuring (10 s): other processes 2.0% of 2 cores, steal 0.0%" in idle.machine[-1]


# real windows ---------------------------------------------------------------------------------------------------


def _detached_burners(count: int, seconds: float) -> list[int]:
    """``count`` processes that burn a core each for ``seconds``, started by a shell that exits at once: they are
    not this process's descendants, so their CPU time is other processes' time."""
    code = BURN.format(seconds=seconds)
    shell = subprocess.run(["sh", "-c", 'i=0; while [ $i -lt "$2" ]; do "$0" -c "$1" >/dev/null 2>&1 & echo $!; '
                                        'i=$((i + 1)); done', sys.executable, code, str(count)],
                           capture_output=True, text=True, check=True)
    return [int(pid) for pid in shell.stdout.split()]


def _stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _busy_window() -> tuple[dict, float]:
    """A 1.5 s window beside processes burning every core (two on a 2-core machine); (its summary, the CPU
    seconds the burners used in it)."""
    pids = _detached_burners(min(os.cpu_count() or 1, 8), seconds=2.5)
    try:
        time.sleep(0.1)  # started
        with LoadRecorder(sample_seconds=0.5) as recorder:
            before = _cpu_of(pids)
            time.sleep(1.5)
            theirs = _cpu_of(pids) - before
    finally:
        _stop(pids)
    return recorder.summary(), theirs


@pytest.mark.slow
def test_a_real_window_beside_processes_burning_every_core_is_contended():
    busy, theirs = _busy_window()
    assert busy["other_cpu_share"] > 0.5 and busy["contended"] is True, busy
    assert busy["other_cpu_seconds"] >= theirs - 0.1, (busy, theirs)  # the burners' time is other processes' time
    assert busy["own_cpu_seconds"] < 0.5  # this process slept


@pytest.mark.slow
def test_a_real_idle_window_reads_far_less_than_a_busy_one():
    with LoadRecorder(sample_seconds=0.5) as recorder:
        time.sleep(1.5)
    idle = recorder.summary()
    if idle["contended"]:
        pytest.skip(f"the machine is already busy with other work ({idle['reason']})")
    busy, _ = _busy_window()
    assert busy["other_cpu_share"] > idle["other_cpu_share"] + 0.4, (busy, idle)


@pytest.mark.slow
def test_the_runs_own_children_count_as_its_own_time():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with LoadRecorder(sample_seconds=0) as recorder:
        burners = [subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.8)]) for _ in range(2)]
        for burner in burners:
            burner.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    theirs = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    found = recorder.summary()
    assert theirs > 0.1 and found["own_cpu_seconds"] >= theirs - 0.05, (theirs, found)


def test_the_recorder_needs_a_finished_window():
    with pytest.raises(RuntimeError, match="finished window"):
        LoadRecorder(fake([]), sample_seconds=0).summary()
    assert machine_load.METHOD.endswith("steal over 5%")
