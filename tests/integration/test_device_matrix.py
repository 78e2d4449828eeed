"""measure.dtypes: float32 models cast for measuring; a model whose method fixed its dtype measured once, as built."""


import pytest

from harness.cache import ModelCache, default_cache_dir
from harness.runner import run_suite
from harness.store import load_results
from harness.suite import load_suite
from tests.conftest import FIXTURES

INT8_STUDENT = "  - name: int8\n    init: teacher\n    method: {name: quantize}\n"
SUITE = (FIXTURES / "tiny.yaml").read_text().replace("name: tiny", "name: dtypes").replace(
    "measure:\n", INT8_STUDENT + "measure:\n  dtypes: [float32, bfloat16]\n")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("dtypes")
    (tmp / "suite.yaml").write_text(SUITE)
    run = run_suite(load_suite(tmp / "suite.yaml"), tmp, ModelCache(default_cache_dir()), log=lambda _: None)
    return load_results(run.run_dir)


def test_float32_models_are_measured_in_each_dtype(rows):
    timed = rows[rows["batch_size"].notna() & (rows["metric"] == "latency_p50_ms")]
    kd = timed[timed["model"] == "kd-4"]
    assert sorted(kd["dtype"]) == ["bfloat16", "bfloat16", "float32", "float32"] and set(kd["status"]) == {"ok"}
    size = rows[(rows["metric"] == "size_bytes") & (rows["model"] == "kd-4")].set_index("dtype")["value"]
    assert size["bfloat16"] < size["float32"]  # the cast model's own size: half the weights' bytes
    params = rows[(rows["metric"] == "params") & (rows["model"] == "kd-4")]["value"]
    assert params.nunique() == 1 and len(params) == 2  # model-level rows once per dtype


def test_a_model_with_a_fixed_dtype_is_measured_once_as_built(rows):
    timed = rows[rows["batch_size"].notna() & (rows["metric"] == "latency_p50_ms") & (rows["model"] == "int8")]
    assert set(timed.loc[timed["status"] == "ok", "dtype"]) == {"int8"}
    skipped = timed[timed["status"] == "skipped"]
    assert set(skipped["dtype"]) == {"bfloat16"}
    assert skipped["error"].str.contains("fixed its dtype at int8: measured as built, under dtype float32").all()
    assert set(rows.loc[(rows["model"] == "int8") & rows["batch_size"].isna(), "dtype"]) == {"int8"}


def test_every_declared_metric_has_a_row_per_cell(rows):
    timed = rows[rows["batch_size"].notna()]
    per_cell = timed.groupby(["model", "device", "threads", "dtype", "batch_size"], dropna=False)["metric"].nunique()
    assert per_cell.nunique() == 1
