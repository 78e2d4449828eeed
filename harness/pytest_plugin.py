"""pytest plugin: a suite's gates (and, optionally, latency benchmarks) as test items.

Registered through the ``pytest11`` entry point, so it is loaded wherever
harness is installed; it does nothing (imports nothing heavy, adds no items)
unless ``--harness-suite`` is given::

    pytest --harness-suite suites/quick.yaml --harness-baseline quick-cpu
    pytest --harness-suite suites/quick.yaml --harness-baseline quick-cpu --harness-run results/quick/RUN_ID
    pytest --harness-suite suites/quick.yaml --harness-benchmark --benchmark-json bench.json   # benchmarks only
    pytest --harness-suite suites/quick.yaml --harness-baseline quick-cpu --harness-set measure.batch_sizes=[1,8]

``--harness-set KEY=VALUE`` (repeatable) changes the suite as ``harness run --set`` does: the run the
plugin makes, its items and the gates it judges all use the changed suite, and the run's manifest records
the overrides. A bad override, like a bad suite file, is one line (a collection error, exit 2).

Each model × gate of the suite is one item (``suites/quick.yaml::kd-16::latency_p50_ms``);
the suite runs (or ``--harness-run`` is read) once, when the first item
runs, and the comparison is shared. A failing item's message is the gate's
line: values, change, bound, p-value and test. A refused gate (the hardware
differs) fails too (it is skipped with ``--harness-skip-hardware-gates``); a gate
with no baseline value is skipped. A noisy latency cell beyond its bound obeys the
suite's ``gate_policy.noisy``, as ``harness compare`` does: ``fail`` (default) fails
the item, ``warn`` passes it with a :class:`NoisyCellWarning`, ``rerun`` measures
the suite again (up to ``gate_policy.reruns`` times, while a cell is noisy) and
judges the noisy cells on the last run; with ``--harness-run`` there is nothing to
measure again, so ``rerun`` fails as in ``harness compare``.
The run's folder is printed at the end of the session (pytest's terminal
summary, ``harness: run ...``), with the suite line ``harness compare``
prints (``same suite`` or ``suite content differs: ...``), and named in every
failing item's message. A run the plugin made in a temporary folder (no
``--harness-results``) is kept when a gate failed, was refused or noisy, or
the session failed otherwise, so it can be opened; when every gate held it is
removed. With ``--harness-run``, a run whose suite content differs from the
suite the gates come from (a run made with ``--set``) is said so, as
``harness compare`` says it between baseline and candidate.
``--harness-benchmark`` adds one pytest-benchmark item per model × batch
size (``harness/pytest_bench.py``), so ``--benchmark-json``,
``--benchmark-autosave`` and ``--benchmark-compare-fail`` apply.
Without other paths on the command line only the suite's items run.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.compare import Comparison, GateResult, RunData
    from harness.suite import Suite

SESSION = "harness-session"
BENCH_MODULE = Path(__file__).with_name("pytest_bench.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness: a suite's regression gates as tests")
    group.addoption("--harness-suite", metavar="SUITE", help="suite whose gates become test items (enables the plugin)")
    group.addoption("--harness-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a value of the suite file, before it is validated (repeatable, applied in order); "
                         "KEY: dotted keys and list items by index or name, VALUE: YAML, e.g. "
                         "--harness-set measure.batch_sizes=[1,8] --harness-set 'students[0].method.epochs=5' "
                         "(recorded in the run's manifest overrides; the suite hash covers the result)")
    group.addoption("--harness-baseline", metavar="NAME", help="baseline name (see --harness-baselines) or run dir")
    group.addoption("--harness-baselines", metavar="DIR", default="results/baselines",
                    help="where baseline names are looked up (default: results/baselines)")
    group.addoption("--harness-run", metavar="RUN_DIR", help="compare this finished run instead of running the suite")
    group.addoption("--harness-results", metavar="DIR", help="where the suite's run is written (default: a temp dir)")
    group.addoption("--harness-allow-hardware-change", action="store_true",
                    help="compare latency, memory and energy even when the hardware differs")
    group.addoption("--harness-skip-hardware-gates", action="store_true",
                    help="when the hardware differs, skip latency, memory and energy gates instead of failing them")
    group.addoption("--harness-benchmark", action="store_true",
                    help="time each model at each batch size through pytest-benchmark's fixture")


def pytest_configure(config: pytest.Config) -> None:
    suite = config.getoption("harness_suite")
    if not suite:
        return
    if not config.getoption("harness_baseline") and not config.getoption("harness_benchmark"):
        raise pytest.UsageError("--harness-suite needs --harness-baseline NAME (gates), --harness-benchmark, or both")
    if config.getoption("harness_benchmark") and not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError("--harness-benchmark needs pytest-benchmark: pip install pytest-benchmark")
    paths = [suite] + ([str(BENCH_MODULE)] if config.getoption("harness_benchmark") else [])
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args.extend(p for p in paths if p not in config.args)
    else:  # no paths given: only the suite's items, not the project's testpaths
        config.args[:] = paths
    config.addinivalue_line("markers", "harness_gate: a gate of a harness suite (harness.pytest_plugin)")
    config.pluginmanager.register(HarnessSession(config, Path(suite)), SESSION)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    session = parent.config.pluginmanager.get_plugin(SESSION)
    if isinstance(session, HarnessSession) and file_path.resolve() == session.suite_path.resolve():
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def harness_session(config: pytest.Config) -> HarnessSession:
    session = config.pluginmanager.get_plugin(SESSION)
    assert isinstance(session, HarnessSession), "the harness plugin runs only with --harness-suite"
    return session


class HarnessSession:
    """The suite, its run and the comparison, each made once per pytest session."""

    def __init__(self, config: pytest.Config, suite_path: Path):
        self.config, self.suite_path = config, suite_path
        self._suite: Suite | None = None
        self._comparison: Comparison | None = None
        self._error: Exception | None = None
        #: every run this session measured or read, in order (the last is the one judged)
        self.runs: list[Path] = []
        #: the temporary folders the session made runs in (removed at the end only if every gate held)
        self.temporary: list[Path] = []

    @property
    def suite(self) -> Suite:
        if self._suite is None:
            from harness.suite import load_suite

            self._suite = load_suite(self.suite_path, self.config.getoption("harness_set"))
        return self._suite

    def candidate_dir(self) -> Path:
        run = self.config.getoption("harness_run")
        if run:
            self.runs.append(Path(run))
            return Path(run)
        return self.measure()

    def measure(self) -> Path:
        """Run the suite; its run directory."""
        from harness.cache import ModelCache, default_cache_dir
        from harness.runner import run_suite

        out = self.config.getoption("harness_results")
        if not out:
            out = tempfile.mkdtemp(prefix="harness-pytest-")
            self.temporary.append(Path(out))
        run_dir = run_suite(self.suite, Path(out), ModelCache(default_cache_dir())).run_dir
        self.runs.append(run_dir)
        return run_dir

    def summary_lines(self, kept: bool) -> list[str]:
        """What the terminal summary says: each run's folder (kept or removed), and the suites compared."""
        from harness.report.compare import suite_line

        lines = []
        for run in self.runs:
            made_here = any(run.is_relative_to(t) for t in self.temporary)
            fate = "" if not made_here else " (kept: open it with harness report)" if kept else \
                " (removed: every gate held; --harness-results DIR keeps the run)"
            lines.append(f"harness: run {run}{fate}")
        if self._comparison is not None:
            lines.append(f"harness: {suite_line(self._comparison)}")
        given = self.config.getoption("harness_run")
        if given and self._suite is not None:
            lines += self._given_run_differs(Path(given))
        return lines

    def _given_run_differs(self, run: Path) -> list[str]:
        """A ``--harness-run`` made from other suite content than the gates' suite (``--set``, an edited file)."""
        from harness.store import read_manifest
        from harness.suite_diff import differences, how_it_differs_text, short_hash

        try:
            manifest = read_manifest(run)
        except Exception:  # a damaged run was already reported by the comparison
            return []
        suite = self.suite
        if manifest.suite_hash == suite.content_hash():
            return []
        found = differences(suite.resolved(), manifest.suite)
        return [f"harness: suite content differs: {self.suite_path} {short_hash(suite.content_hash())} -> the run's "
                f"{short_hash(manifest.suite_hash)}: {how_it_differs_text(found)}"]

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        kept = exitstatus != 0
        for line in self.summary_lines(kept):
            terminalreporter.write_line(line)
        if not kept:
            for folder in self.temporary:
                shutil.rmtree(folder, ignore_errors=True)

    def built_models(self) -> tuple[dict[str, Any], Any, Suite]:
        """Every model of the suite (first seed), built as a run builds them, for the benchmark items."""
        from harness.build import Builder
        from harness.cache import ModelCache, default_cache_dir
        from harness.measure.threads import torch_threads
        from harness.preflight import checked_dataset

        suite = self.suite
        data = checked_dataset(suite)
        builder = Builder(suite, data, ModelCache(default_cache_dir()), lambda message: None)
        with torch_threads(suite.build.threads):
            teacher = builder.teacher()
            built = [teacher, *(builder.student(spec, suite.seeds[0], teacher) for spec in suite.students)]
        return {b.name: b for b in built}, data, suite

    def comparison(self) -> Comparison:
        """Computed on first use. Bad input (a missing or damaged baseline or run) ends the session with its
        one line and exit code 2, as ``harness compare`` does: no gate can be judged, and a failed gate (exit
        1) would claim a regression that never happened. Any other error is kept and raised for every item."""
        from harness.errors import HarnessError

        if self._comparison is None and self._error is None:
            try:
                self._comparison = self._compare()
            except HarnessError as exc:
                pytest.exit(f"harness: {exc}", returncode=2)
            except Exception as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._comparison is not None
        return self._comparison

    def _compare(self) -> Comparison:
        """The comparison; under ``gate_policy.noisy: rerun``, noisy cells judged again on fresh runs."""
        from harness.baseline import locate
        from harness.compare import NOISY, RunData, rejudge_noisy

        name = self.config.getoption("harness_baseline")
        baseline = RunData.load(locate(name, Path(self.config.getoption("harness_baselines"))))
        comparison = self._compare_with(baseline, self.candidate_dir())
        reruns = 0 if self.config.getoption("harness_run") else self.suite.gate_policy.rerun_count
        for _ in range(reruns):
            if not comparison.count(NOISY):
                break
            comparison = rejudge_noisy(comparison, self._compare_with(baseline, self.measure()))
        return comparison

    def _compare_with(self, baseline: RunData, run_dir: Path) -> Comparison:
        from harness.compare import RunData, compare_runs

        candidate = RunData.load(run_dir)
        return compare_runs(baseline, candidate, self.suite.gates_by_model(), policy=self.suite.gate_policy,
                            names=(self.config.getoption("harness_baseline"), str(candidate.path)),
                            allow_hardware_change=self.config.getoption("harness_allow_hardware_change"),
                            skip_hardware_gates=self.config.getoption("harness_skip_hardware_gates"))


class GateFailed(Exception):
    """A gate that did not hold; its message is the report."""


class NoisyCellWarning(UserWarning):
    """A noisy or undecidable cell beyond its bound, passed under ``gate_policy.noisy: warn``."""


class SuiteFile(pytest.File):
    def collect(self) -> Any:

        suite = harness_session(self.config).suite  # read (and validated) even when only benchmarks run
        if not self.config.getoption("harness_baseline"):
            return
        for model, gates in suite.gates_by_model().items():
            for metric in gates:
                yield GateItem.from_parent(self, name=f"{model}::{metric}", model=model, metric=metric)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from harness.errors import HarnessError

        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class GateItem(pytest.Item):
    def __init__(self, *, model: str, metric: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.model, self.metric = model, metric
        self.add_marker("harness_gate")

    def results(self) -> list[GateResult]:
        return [r for r in harness_session(self.config).comparison().results
                if r.model == self.model and r.metric in (self.metric, "-")]

    def runtest(self) -> None:
        from harness.compare import NEW, REFUSED, SKIPPED
        from harness.report.compare import failure_message

        comparison = harness_session(self.config).comparison()
        results = self.results()
        if any(comparison.does_not_hold(r) or r.verdict == REFUSED for r in results):
            runs = harness_session(self.config).runs
            raise GateFailed(failure_message(results) + (f"\nrun: {runs[-1]}" if runs else ""))
        for r in results:
            if comparison.warns(r):
                warnings.warn(NoisyCellWarning(failure_message([r])), stacklevel=1)
        if not results or all(r.verdict in (SKIPPED, NEW) for r in results):
            pytest.skip("; ".join(sorted({r.note for r in results})) or "no result for this gate")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from harness.errors import HarnessError

        if isinstance(excinfo.value, GateFailed | HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"harness gate: {self.model} {self.metric}"
