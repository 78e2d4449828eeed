"""Fixtures the integration modules share: built once per session, whichever module asks first."""

from pathlib import Path

import pytest

from harness.cache import ModelCache, default_cache_dir
from harness.plan import Shard
from harness.runner import run_suite
from harness.suite import load_suite
from tests.conftest import FIXTURES


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The matrix suite run whole and as two shards (sharding, merge and the hardware report read them; about
    40 s, once: it was a module fixture that the hardware report's module imported, so it ran twice)."""
    tmp = tmp_path_factory.mktemp("shards")
    suite, cache = load_suite(FIXTURES / "matrix.yaml"), ModelCache(default_cache_dir())
    found = {"whole": run_suite(suite, tmp / "whole", cache, log=lambda _: None).run_dir}
    for index in (1, 2):
        found[f"shard{index}"] = run_suite(suite, tmp / "shards", cache, log=lambda _: None,
                                           shard=Shard(index, 2)).run_dir
    found["tmp"] = tmp
    return found
