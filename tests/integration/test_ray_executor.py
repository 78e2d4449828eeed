"""The Ray executor on a real local Ray instance: the same cells and schema as the local executor."""

from pathlib import Path

import pytest

from harness.cache import ModelCache, default_cache_dir
from harness.errors import HarnessError
from harness.executors import make_executor
from harness.runner import run_suite
from harness.store import COLUMNS, load_results, read_manifest
from harness.suite import load_suite
from tests.conftest import FIXTURES
from tests.integration.test_sharding import cells_of

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def both(ray_instance, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    tmp = tmp_path_factory.mktemp("ray")
    suite, cache = load_suite(FIXTURES / "matrix.yaml"), ModelCache(default_cache_dir())
    local = run_suite(suite, tmp, cache, log=lambda _: None).run_dir
    lines: list[str] = []
    on_ray = run_suite(suite, tmp, cache, log=lines.append, executor=make_executor("ray")).run_dir
    return local, on_ray, lines


def test_same_cells_and_schema_as_the_local_executor(both):
    local, on_ray, _ = both
    df = load_results(on_ray)
    assert list(df.columns) == list(COLUMNS)
    assert cells_of(df) == cells_of(load_results(local))
    assert read_manifest(on_ray).executor == "ray (local instance)"
    assert read_manifest(on_ray).status == "complete"


def test_students_built_on_ray_tasks_share_the_cache_keys(both):
    """Every student came from the cache the local run filled (train_seconds is the cached build time),
    the multi_teacher student too: its key covers kd-4's, which a Ray task built."""
    local, on_ray, lines = both
    seconds = [load_results(d).query("metric == 'train_seconds'").set_index("model")["value"] for d in (local, on_ray)]
    assert seconds[0].to_dict() == seconds[1].to_dict()
    assert sum("from cache" in line for line in lines) == 4


def test_cells_come_back_with_their_samples_and_the_twins_noise_floor(both):
    """Each paired cell is one Ray task: its samples (the teacher's A/A twin's too) and its A/A ratios."""
    _, on_ray, _ = both
    samples = load_results(on_ray, samples=True)
    assert set(samples["threads"]) == {1, 2}
    assert set(samples["model"]) == {"teacher", "teacher~aa", "kd-4", "scratch-4", "multi-4"}
    assert samples["round"].notna().all() and samples["slot"].notna().all()
    floor = read_manifest(on_ray).noise_floor
    assert {cell["threads"] for cell in floor["cells"]} == {1, 2} and floor["pct"] is not None


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch):
    import harness.executors.ray as module

    monkeypatch.setattr(module, "ray", None)
    with pytest.raises(HarnessError, match=r"pip install -e '\.\[ray\]'"):
        make_executor("ray")


def test_sigterm_on_ray_stops_cleanly(tmp_path: Path):
    """Ray's start-up installs its own SIGTERM handler (which aborts); the run's is put back: exit 130, the
    run marked interrupted with its finished models kept once. (Resume is the runner's, tested locally.)"""
    import signal

    from tests.integration.test_reliability import Progress, _cells_once, _slow_suite, _start

    suite = _slow_suite(tmp_path)
    process = _start(suite, tmp_path / "results", "--executor", "ray")
    progress = Progress(process)
    run_dir = progress.wait_for_rows(at_least=1)
    process.send_signal(signal.SIGTERM)
    out, err = progress.finish(timeout=60)
    assert process.returncode == 130, err
    assert out.strip().splitlines()[-1] == str(run_dir) and "Traceback" not in err
    assert read_manifest(run_dir).status == "interrupted" and _cells_once(load_results(run_dir))
