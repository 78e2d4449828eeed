"""Each model of a harness suite at each batch size, timed through pytest-benchmark's ``benchmark`` fixture.

Collected only when the harness pytest plugin (:mod:`harness.pytest_plugin`) is
given ``--harness-suite SUITE --harness-benchmark``: one test per model ×
batch size, ``test_latency[kd-16-bs64]``, grouped by batch size. Models are
built as ``harness run`` builds them (first seed, from the model cache), the
input is prepared outside the timed region, and the suite's
``measure.threads`` are set while timing; rounds and warm-up rounds are the
suite's ``measure.latency.min_iters`` and ``warmup_iters``. A suite timed with several thread counts
gets one test per count (``kd-16-bs64-2t``); inputs are made as the measuring process makes them
(token ids for text models). pytest-benchmark
does the rest: ``--benchmark-json``, ``--benchmark-autosave``,
``--benchmark-compare`` and ``--benchmark-compare-fail=median:10%``.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.pytest_plugin import harness_session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "harness_cell" not in metafunc.fixturenames:
        return
    suite = harness_session(metafunc.config).suite
    names = [suite.teacher.name, *(s.name for s in suite.students)]
    counts = suite.measure.thread_counts
    cells = [(name, b, t) for name in names for b in suite.measure.batch_sizes for t in counts]
    ids = [f"{m}-bs{b}" + (f"-{t}t" if len(counts) > 1 else "") for m, b, t in cells]
    metafunc.parametrize("harness_cell", cells, ids=ids)


@pytest.fixture(scope="module")
def harness_models(request: pytest.FixtureRequest) -> Any:
    return harness_session(request.config).built_models()


def test_latency(benchmark: Any, harness_cell: tuple[str, int, int | None], harness_models: Any) -> None:
    import torch

    from harness.measure.batch import make_input
    from harness.measure.latency import prepare_example
    from harness.measure.size import model_dtype
    from harness.measure.threads import torch_threads

    name, batch_size, threads = harness_cell
    models, data, suite = harness_models
    built = models[name]
    if built.module is None:
        pytest.fail(f"{name}: {built.error}", pytrace=False)
    tokens = data.token_range
    batch = make_input(batch_size, data.input_shape, torch.Generator().manual_seed(0), tokens)
    example, _ = prepare_example(batch, "cpu", model_dtype(built.module) if tokens is None else None)
    latency = suite.measure.latency
    benchmark.group = f"{suite.name} batch size {batch_size}"
    with torch_threads(threads) as used, torch.inference_mode():
        benchmark.extra_info.update(model=name, batch_size=batch_size, threads=used, dtype=built.dtype)
        benchmark.pedantic(built.module, args=(example,), rounds=latency.min_iters,
                           warmup_rounds=latency.warmup_iters, iterations=1)
