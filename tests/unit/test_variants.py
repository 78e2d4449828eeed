"""Reports keep backends and sequence lengths apart: one entry per (model, backend, seq_len)."""

import pandas as pd

from harness.report.variants import split_variants
from harness.store import frame


def _rows() -> pd.DataFrame:
    base = {"suite": "s", "role": "student", "method": "kd", "seed": 0, "device": "cpu", "dtype": "float32",
            "unit": "x", "status": "ok", "error": ""}
    rows = [{**base, "model": "m", "metric": "params", "value": 10.0, "batch_size": None}]
    for backend in ("eager", "onnx"):
        for seq_len in (32, 128):
            rows.append({**base, "model": "m", "metric": "latency_p50_ms", "value": float(seq_len),
                         "batch_size": 1, "backend": backend, "seq_len": seq_len})
    return frame({"run_id": "r", **r} for r in rows)


def test_each_backend_and_sequence_length_is_its_own_entry_with_the_model_level_rows():
    out = split_variants(_rows())
    assert sorted(out["model"].unique()) == ["m [onnx, seq 128]", "m [onnx, seq 32]", "m [seq 128]", "m [seq 32]"]
    for name, group in out.groupby("model"):
        assert group.loc[group["metric"] == "params", "value"].tolist() == [10.0]
        latency = group[group["metric"] == "latency_p50_ms"]
        assert len(latency) == 1 and latency["value"].iloc[0] == float(str(name).split("seq ")[1].rstrip("]"))
    assert list(out.dtypes) == list(_rows().dtypes)


def test_one_variant_per_model_is_left_as_it_is():
    df = _rows()
    one = df[(df["backend"] == "eager") & ((df["seq_len"] == 32) | df["seq_len"].isna())]
    assert split_variants(one).equals(one)


def test_tables_of_model_level_metrics_have_one_row_per_model():
    """The report's Models table: the four variants of m are one row named m, with its params once."""
    from harness.report import build_report, render_markdown
    from harness.report.variants import one_per_model
    from tests.unit.test_report import BARE

    split = split_variants(_rows())
    model_level = one_per_model(split)
    assert model_level["model"].tolist() == ["m"] and model_level["value"].tolist() == [10.0]
    models = render_markdown(build_report(split, BARE)).split("## Models")[1].split("##")[0]
    assert [line.split("|")[1].strip() for line in models.splitlines() if line.startswith("| m ")] == ["m"]
