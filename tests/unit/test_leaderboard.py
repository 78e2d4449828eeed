"""The leaderboard on a hand-made results table, and through the CLI on two real runs of the tiny suite.

Suite "s", runs r1 and r2, cpu, batch sizes 1 and 8. Accuracy per (run, seed) observation and the median
latency at batch size 8 (interval ± 0.1; batch size 1 is half of it):

    teacher     r1/0 0.97, r2/0 0.99                   10.0
    kd-16       r1/0 0.90, r1/1 0.92, r2/0 0.94          2.0   best; same latency as scratch-16
    scratch-16  r1/0 0.88, r1/1 0.86                     2.0   overlaps kd-16 -> shares rank 1
    prune-16    r1/0 0.70 [0.60, 0.75]                   1.0   overlaps scratch-16 only -> chain, rank 1
    int8-16     r2/0 0.50 [0.45, 0.55]                   1.0   disjoint -> rank 4; same latency as prune-16
    tiny-4      r2/0 0.49 [0.40, 0.52]                   0.5   overlaps int8-16 -> rank 4
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.report.leaderboard import (
    display_leaderboard,
    leaderboard,
    pareto_flags,
    read_leaderboard,
    render_leaderboard_html,
    render_leaderboard_markdown,
    write_leaderboard,
)
from harness.report.noise import NoiseFloor, read_noise_floors
from harness.report.ranking import paired_accuracy_tests
from harness.store import frame
from tests.conftest import FIXTURES
from tests.helpers import MANIFEST_KEYS

T975 = {1: 12.706, 2: 4.303}  # two-sided 95% Student-t critical values by degrees of freedom

# model -> (role, method, [(run, seed, accuracy, ci_low, ci_high)], latency at batch size 8, params)
MODELS = {
    "teacher": ("teacher", "train", [("r1", 0, 0.97, 0.95, 0.99), ("r2", 0, 0.99, 0.97, 1.0)], 10.0, 1000),
    "kd-16": ("student", "kd", [("r1", 0, 0.90, 0.85, 0.95), ("r1", 1, 0.92, 0.87, 0.97),
                                ("r2", 0, 0.94, 0.89, 0.99)], 2.0, 100),
    "scratch-16": ("student", "scratch", [("r1", 0, 0.88, 0.83, 0.93), ("r1", 1, 0.86, 0.81, 0.91)], 2.0, 100),
    "prune-16": ("student", "prune", [("r1", 0, 0.70, 0.60, 0.75)], 1.0, 50),
    "int8-16": ("student", "quantize", [("r2", 0, 0.50, 0.45, 0.55)], 1.0, 100),
    "tiny-4": ("student", "kd", [("r2", 0, 0.49, 0.40, 0.52)], 0.5, 20),
}


def _rows(drop_batch: tuple[str, int] | None = None) -> list[dict]:
    rows = []
    for model, (role, method, observations, latency, params) in MODELS.items():
        for run, seed, acc, low, high in observations:
            base = {"run_id": run, "suite": "s", "model": model, "role": role, "method": method, "seed": seed,
                    "device": "cpu", "dtype": "float32", "status": "ok"}
            rows.append({**base, "metric": "accuracy", "value": acc, "ci_low": low, "ci_high": high})
            rows.append({**base, "metric": "params", "value": params})
            rows.append({**base, "metric": "size_bytes", "value": 4 * params})
            for batch, lat in ((1, latency / 2), (8, latency)):
                if drop_batch == (model, batch):
                    continue
                rows.append({**base, "metric": "latency_p50_ms", "batch_size": batch, "value": lat,
                             "ci_low": lat - 0.1, "ci_high": lat + 0.1})
                rows.append({**base, "metric": "throughput_sps", "batch_size": batch, "value": 1000 * batch / lat})
    return rows


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return frame(_rows())


@pytest.fixture(scope="module")
def table(df: pd.DataFrame) -> pd.DataFrame:
    return leaderboard(df)


def _row(table: pd.DataFrame, model: str) -> pd.Series:
    return table.set_index("model").loc[model]


def _t_interval(values: list[float]) -> tuple[float, float, float]:
    k = len(values)
    mean = sum(values) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = T975[k - 1] * sd / math.sqrt(k)
    return mean, mean - half, mean + half


def test_teacher_is_the_reference_row_and_students_are_ranked_with_shared_ranks(table):
    assert table["model"].tolist() == ["teacher", "kd-16", "scratch-16", "prune-16", "int8-16", "tiny-4"]
    assert table["rank"].tolist() == ["ref", "1", "1", "3", "4", "4"]
    # scratch-16 overlaps kd-16 (rank 1); prune-16 overlaps scratch-16 but not kd-16, the holder of rank 1,
    # so no chain carries it to rank 1: it opens rank 3; tiny-4 overlaps int8-16, the holder of rank 4
    assert table["tie"].tolist() == ["", "", "=1", "", "", "=4"]
    assert table["suite"].unique().tolist() == ["s"]
    assert table["batch_size"].tolist() == [8] * 6 and table["device"].unique().tolist() == ["cpu"]


def test_accuracy_pools_runs_by_seed_then_takes_a_t_interval_across_seeds(table):
    kd = _row(table, "kd-16")
    # seed 0 ran twice (0.90 in r1, 0.94 in r2: one observation, 0.92); seed 1 once (0.92)
    mean, low, high = _t_interval([0.92, 0.92])
    assert (kd["runs"], kd["seeds"]) == (2, 2)
    assert kd["accuracy"] == pytest.approx(0.92) and (low, high) == (pytest.approx(0.92), pytest.approx(0.92))
    # the seeds agree exactly, so the t-interval has zero width: the seeds' own average interval is kept,
    # seed 0 ((0.85 + 0.89) / 2, (0.95 + 0.99) / 2) and seed 1 (0.87, 0.97)
    assert (kd["accuracy_low"], kd["accuracy_high"]) == (pytest.approx(0.87), pytest.approx(0.97))
    scratch = _row(table, "scratch-16")
    assert (scratch["accuracy_low"], scratch["accuracy_high"]) == (pytest.approx(0.87 - 0.12706),
                                                                   pytest.approx(0.87 + 0.12706))
    teacher = _row(table, "teacher")  # two runs of one seed: one observation, its intervals averaged
    assert (teacher["runs"], teacher["seeds"], teacher["accuracy"]) == (2, 1, pytest.approx(0.98))
    assert (teacher["accuracy_low"], teacher["accuracy_high"]) == (pytest.approx(0.96), pytest.approx(0.995))
    prune = _row(table, "prune-16")  # one observation: its own interval
    assert (prune["accuracy"], prune["accuracy_low"], prune["accuracy_high"]) == (0.70, 0.60, 0.75)


def test_other_columns_are_at_the_chosen_batch_size(table):
    kd = _row(table, "kd-16")
    assert (kd["params"], kd["size_bytes"]) == (100, 400)
    assert (kd["latency_p50_ms"], kd["latency_p50_ms_low"], kd["latency_p50_ms_high"]) == (
        pytest.approx(2.0), pytest.approx(1.9), pytest.approx(2.1))
    assert kd["throughput_sps"] == pytest.approx(4000.0)
    assert leaderboard(frame(_rows()), batch_size=1).set_index("model").loc["kd-16", "latency_p50_ms"] == 1.0


def test_pareto_flags_on_the_leaderboard(table):
    # no predictions: clearly more accurate means disjoint accuracy intervals, clearly faster disjoint latency
    # intervals (no floor given). kd-16 [0.87, 0.97] is not clearly less accurate than the teacher [0.96, 0.995]
    # and is clearly faster, so the teacher is off the front; scratch-16 [0.743, 0.997] ties kd-16 and the teacher
    # on accuracy but prune-16 [0.60, 0.75] overlaps it too and is clearly faster (1.0 against 2.0); prune-16 is
    # clearly more accurate than int8-16 at the same latency; tiny-4 is the fastest.
    assert dict(zip(table["model"], table["pareto"], strict=True)) == {
        "teacher": False, "kd-16": True, "scratch-16": False, "prune-16": True, "int8-16": False, "tiny-4": True}


def test_pareto_flags_pure_function():
    names = ["best", "fast", "dominated", "tie-acc", "same-a", "same-b", "nan"]
    acc = [0.9, 0.5, 0.6, 0.9, 0.7, 0.7, math.nan]
    lat = [2.0, 1.0, 3.0, 2.5, 1.5, 1.5, 0.1]
    assert pareto_flags(names, acc, lat) == {
        "best": True, "fast": True, "dominated": False,  # best is better on both
        "tie-acc": False,  # as accurate as best, slower
        "same-a": True, "same-b": True,  # identical points do not dominate each other
        "nan": False}
    assert pareto_flags([], [], []) == {}
    # with intervals: a difference inside them is no difference
    assert pareto_flags(["a", "b"], [(0.9, 0.85, 0.95), (0.88, 0.83, 0.93)], [1.0, 1.0]) == {"a": True, "b": True}
    assert pareto_flags(["a", "b"], [(0.9, 0.89, 0.91), (0.88, 0.87, 0.885)], [1.0, 1.0]) == {"a": True, "b": False}
    assert pareto_flags(["a", "b"], [0.9, 0.9], [(1.0, 0.8, 1.2), (1.1, 0.9, 1.3)]) == {"a": True, "b": True}
    # a paired call overrides the intervals either way
    assert pareto_flags(["a", "b"], [(0.9, 0.89, 0.91), (0.88, 0.87, 0.885)], [1.0, 1.0],
                        accuracy_calls={frozenset({"a", "b"}): None}) == {"a": True, "b": True}
    assert pareto_flags(["a", "b"], [(0.9, 0.85, 0.95), (0.88, 0.83, 0.93)], [1.0, 1.0],
                        accuracy_calls={frozenset({"a", "b"}): "a"}) == {"a": True, "b": False}
    # clearly more accurate but clearly slower does not dominate; not clearly slower does
    assert pareto_flags(["a", "b"], [0.9, 0.8], [(2.0, 1.9, 2.1), (1.0, 0.9, 1.1)]) == {"a": True, "b": True}
    assert pareto_flags(["a", "b"], [0.9, 0.8], [(1.2, 1.0, 1.4), (1.0, 0.9, 1.1)]) == {"a": True, "b": False}
    with pytest.raises(ValueError, match="unique"):
        pareto_flags(["a", "a"], [1.0, 1.0], [1.0, 1.0])


def test_ranking_by_latency_is_ascending(df):
    table = leaderboard(df, by="latency_p50_ms")
    assert table["model"].tolist() == ["teacher", "tiny-4", "int8-16", "prune-16", "kd-16", "scratch-16"]
    assert table["rank"].tolist() == ["ref", "1", "2", "2", "4", "4"]
    assert table["tie"].tolist() == ["", "", "", "=2", "", "=4"]


def test_ranking_by_a_metric_not_shown_adds_its_interval(df):
    table = leaderboard(df, by="params")
    assert table["model"].tolist()[:2] == ["teacher", "tiny-4"]
    assert {"params_low", "params_high"} <= set(table.columns)
    assert table["rank"].tolist() == ["ref", "1", "2", "3", "3", "3"]  # three at exactly 100 params


def test_default_batch_size_is_the_largest_common_to_all_models():
    table = leaderboard(frame(_rows(drop_batch=("tiny-4", 8))))
    assert table["batch_size"].unique().tolist() == [1]
    assert _row(table, "kd-16")["latency_p50_ms"] == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"by": "nonsense"}, r"cannot rank by 'nonsense'.*\(allowed: accuracy, latency_p50_ms, params, size_bytes, "
                         r"throughput_sps\)"),
    ({"by": "flops"}, "cannot rank by 'flops'"),  # declared, but not in these results
    ({"batch_size": 64}, r"no latency measured at batch size 64 \(batch sizes present: 1, 8\)"),
    ({"device": "cuda"}, "no measurements on device 'cuda'"),
])
def test_bad_input_is_a_harness_error(df, kwargs, message):
    with pytest.raises(HarnessError, match=message):
        leaderboard(df, **kwargs)


def test_empty_results_are_an_error():
    with pytest.raises(HarnessError, match="empty"):
        leaderboard(frame([]))


def test_markdown_and_html_render_the_table(table):
    md = render_leaderboard_markdown(table)
    assert "| ref " in md and "| =1 " in md and "kd-16" in md
    assert "Students ranked by accuracy (higher is better) across 2 run(s)" in md
    assert "Shared rank where intervals overlap so no one claims a place the data does not support" in md
    assert "92.0" in md and "74.3–99.7" in md  # kd-16's mean, scratch-16's interval, in percent
    page = render_leaderboard_html(table)
    assert page.startswith("<!DOCTYPE html>") and "<table" in page and "<style>" in page
    assert "http" not in page and "src=" not in page


def test_html_escapes_names():
    rows = [{**r, "model": "<b>x</b>"} if r["model"] == "tiny-4" else r for r in _rows()]
    page = render_leaderboard_html(leaderboard(frame(rows)))
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_files_are_written_and_the_csv_reads_back_as_the_table(table, tmp_path):
    paths = write_leaderboard(table, tmp_path / "board")
    assert {k: p.name for k, p in paths.items()} == {
        "md": "leaderboard.md", "html": "leaderboard.html", "csv": "leaderboard.csv"}
    assert paths["md"].read_text(encoding="utf-8") == render_leaderboard_markdown(table)
    assert paths["html"].read_text(encoding="utf-8") == render_leaderboard_html(table)
    pd.testing.assert_frame_equal(read_leaderboard(paths["csv"]), table, check_exact=True)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    tmp = tmp_path_factory.mktemp("leaderboard")
    runs = []
    for _ in range(2):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert main(["run", str(FIXTURES / "tiny.yaml"), "--out", str(tmp / "results"), "--no-report"]) == 0
        runs.append(Path(out.getvalue().strip().splitlines()[-1]))
    return tmp, runs


def test_cli_ranks_two_real_runs(two_runs, capsys):
    tmp, runs = two_runs
    assert main(["leaderboard", *map(str, runs), "--out", str(tmp / "board")]) == 0
    out = capsys.readouterr().out
    assert "across 2 run(s)" in out and "at batch size 8 on cpu" in out
    lines = out.strip().splitlines()
    assert lines[-3:] == [str(tmp / "board" / f"leaderboard.{ext}") for ext in ("md", "html", "csv")]
    table = read_leaderboard(tmp / "board" / "leaderboard.csv")
    assert table["model"].tolist() == ["teacher", "kd-4"] and table["rank"].tolist() == ["ref", "1"]
    assert table["runs"].tolist() == [2, 2] and table["seeds"].tolist() == [1, 1]  # the same seed twice


@pytest.mark.parametrize(("extra", "message"), [
    (["--by", "nonsense"], "cannot rank by 'nonsense'"),
    (["--batch-size", "64"], "batch sizes present: 1, 8"),
])
def test_cli_bad_input_is_one_line_and_exit_2(two_runs, capsys, extra, message):
    tmp, runs = two_runs
    assert main(["leaderboard", *map(str, runs), "--out", str(tmp / "bad"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp / "bad").exists()


def test_cli_without_runs_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", str(tmp_path / "empty"), "--out", str(tmp_path / "board")]) == 2
    assert "not a run directory (no manifest.json), and none is below it" in capsys.readouterr().err


@pytest.fixture(scope="module")
def mixed(two_runs: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Path]:
    """results/tiny holding the two runs of tiny.yaml and a variant whose student trained 1 epoch instead of 2;
    the short content hashes of the two and of the variant; the variant's copy in results/tiny."""
    import shutil

    tmp = tmp_path_factory.mktemp("mixed")
    variant = tmp / "tiny.yaml"
    variant.write_text((FIXTURES / "tiny.yaml").read_text().replace("alpha: 0.9, epochs: 2", "alpha: 0.9, epochs: 1"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(variant), "--out", str(tmp / "variant"), "--no-report"]) == 0
    runs = [*two_runs[1], Path(out.getvalue().strip().splitlines()[-1])]
    for run in runs:
        shutil.copytree(run, tmp / "results" / "tiny" / run.name)
    hashes = [json.loads((run / "manifest.json").read_text())["suite_hash"][:8] for run in runs]
    assert hashes[0] == hashes[1] != hashes[2]
    return tmp, [hashes[0], hashes[2]], tmp / "results" / "tiny" / runs[2].name


def test_cli_refuses_to_pool_runs_of_different_suite_content(mixed, capsys):
    tmp, (same, variant), odd = mixed
    assert main(["leaderboard", str(tmp / "results" / "tiny"), "--out", str(tmp / "refused")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp / "refused").exists()
    assert captured.err == (f"runs of 2 different suite contents cannot be ranked together: tiny {same} (2 runs), "
                            f"tiny {variant} (1 run: {odd}; differs in students[0].method[0].params.epochs: 2 -> 1); "
                            "pass --per-suite to rank each on its own, or only the runs of one\n")


def test_cli_per_suite_ranks_each_suite_content_on_its_own(mixed, capsys):
    tmp, (same, variant), _ = mixed
    board = tmp / "board"
    assert main(["leaderboard", str(tmp / "results" / "tiny"), "--out", str(board), "--per-suite"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("# ")] == [f"# Leaderboard: tiny {same}",
                                                                  f"# Leaderboard: tiny {variant}"]
    assert (f"Suite tiny {variant}: 1 run; differs from tiny {same} in students[0].method[0].params.epochs: "
            "2 -> 1.") in lines
    assert f"Suite tiny {same}: 2 runs, the largest of the suite contents given; the others are ranked on " \
           "leaderboards of their own." in lines
    assert lines[-6:] == [str(board / f"tiny-{h}" / f"leaderboard.{ext}") for h in (same, variant)
                          for ext in ("md", "html", "csv")]
    for content, runs in ((same, 2), (variant, 1)):
        table = read_leaderboard(board / f"tiny-{content}" / "leaderboard.csv")
        assert table["model"].tolist() == ["teacher", "kd-4"] and table["runs"].tolist() == [runs, runs]
    html_page = (board / f"tiny-{variant}" / "leaderboard.html").read_text()
    assert f"<h1>Leaderboard: tiny {variant}</h1>" in html_page and "epochs: 2 -&gt; 1" in html_page


# Suite "p", run p1 (schema 3): twins at batch size 8 whose latencies (and paired speedups) are 1.2% apart with
# disjoint intervals: under a 1.7% A/A noise floor they cannot be told apart.
# model -> (role, method, accuracy, (p50, low, high), (speedup_vs_teacher, low, high))
PAIRED = {"teacher": ("teacher", "train", 0.99, (10.0, 9.9, 10.1), (1.0, 1.0, 1.0)),
          "twin-a": ("student", "kd", 0.95, (1.012, 1.008, 1.016), (9.88, 9.84, 9.92)),
          "twin-b": ("student", "scratch", 0.90, (1.000, 0.996, 1.004), (10.0, 9.96, 10.04))}
FLOOR = {"p1": NoiseFloor(1.7)}


def _paired_rows() -> list[dict]:
    rows = []
    for model, (role, method, acc, p50, speedup) in PAIRED.items():
        base = {"run_id": "p1", "suite": "p", "model": model, "role": role, "method": method, "seed": 0,
                "device": "cpu", "dtype": "float32", "status": "ok"}
        rows.append({**base, "metric": "accuracy", "value": acc, "ci_low": acc - 0.01, "ci_high": acc + 0.01})
        for name, (value, low, high) in (("latency_p50_ms", p50), ("speedup_vs_teacher", speedup)):
            rows.append({**base, "metric": name, "batch_size": 8, "value": value, "ci_low": low, "ci_high": high})
    return rows


@pytest.mark.parametrize("by", ["latency_p50_ms", "speedup_vs_teacher"])
def test_a_speed_difference_under_the_noise_floor_shares_the_rank(by):
    tied = leaderboard(frame(_paired_rows()), by=by, floors=FLOOR)
    assert tied["model"].tolist() == ["teacher", "twin-b", "twin-a"]  # b is 1.2% faster on both metrics
    assert (tied["rank"].tolist(), tied["tie"].tolist()) == (["ref", "1", "1"], ["", "", "=1"])
    apart = leaderboard(frame(_paired_rows()), by=by)  # no floor: disjoint intervals decide
    assert (apart["rank"].tolist(), apart["tie"].tolist()) == (["ref", "1", "2"], ["", "", ""])


def test_accuracy_ranks_ignore_the_noise_floor():
    rows = [{**r, "value": 0.951, "ci_low": 0.95, "ci_high": 0.952} if r["model"] == "twin-b"
            and r["metric"] == "accuracy" else r for r in _paired_rows()]
    table = leaderboard(frame(rows), floors=FLOOR)  # 0.951 against 0.95: 0.1% apart, intervals overlap
    assert table["tie"].tolist() == ["", "", "=1"]
    rows = [{**r, "value": 0.935, "ci_low": 0.93, "ci_high": 0.938} if r["model"] == "twin-b"
            and r["metric"] == "accuracy" else r for r in _paired_rows()]
    table = leaderboard(frame(rows), floors=FLOOR)  # 1.6% apart, intervals disjoint: not a tie on accuracy
    assert table["rank"].tolist() == ["ref", "1", "2"]


def test_pareto_treats_latencies_within_the_noise_floor_as_equal():
    with_floor = leaderboard(frame(_paired_rows()), floors=FLOOR)
    assert dict(zip(with_floor["model"], with_floor["pareto"], strict=True)) == {
        "teacher": True, "twin-a": True, "twin-b": False}  # a: more accurate, not measurably slower
    without = leaderboard(frame(_paired_rows()))
    assert dict(zip(without["model"], without["pareto"], strict=True)) == {
        "teacher": True, "twin-a": True, "twin-b": True}
    assert pareto_flags(["a", "b"], [0.9, 0.9], [1.0, 1.015], floor_pct=1.7) == {"a": True, "b": True}
    assert pareto_flags(["a", "b"], [0.9, 0.9], [1.0, 1.015], floor_pct=1.0) == {"a": True, "b": False}


def test_speedup_reads_the_paired_metric_with_its_interval():
    table = leaderboard(frame(_paired_rows()), floors=FLOOR)
    a = _row(table, "twin-a")
    assert (a["speedup_vs_teacher"], a["speedup_vs_teacher_low"], a["speedup_vs_teacher_high"]) == (9.88, 9.84, 9.92)
    assert bool(a["speedup_paired"])  # not 10.0 / 1.012 = 9.88... of the p50s: the stored value
    shown = display_leaderboard(table).set_index("model")
    assert shown.loc["twin-a", "speedup vs teacher"] == "9.88x"
    assert shown.loc["twin-a", "speedup vs teacher 95% CI"] == "9.84x–9.92x"
    assert "unpaired" not in "".join(display_leaderboard(table)["speedup vs teacher"])


def test_runs_without_the_paired_metric_fall_back_to_an_unpaired_ratio_labelled_so(table):
    kd = _row(table, "kd-16")
    assert (kd["speedup_vs_teacher"], bool(kd["speedup_paired"])) == (5.0, False)  # 10.0 / 2.0
    assert math.isnan(kd["speedup_vs_teacher_low"]) and kd["notes"] == ""
    shown = display_leaderboard(table).set_index("model")
    assert shown.loc["kd-16", "speedup vs teacher"] == "5.00x (unpaired)"
    assert "(unpaired): a run without it (before schema 3)" in render_leaderboard_markdown(table)


def test_the_leaderboard_states_each_runs_noise_floor():
    one = leaderboard(frame(_paired_rows()), floors=FLOOR)
    sentence = "Noise floor (A/A): differences in latency under 1.7% cannot be told apart on this machine in this run."
    assert sentence in render_leaderboard_markdown(one) and sentence in render_leaderboard_html(one)
    two = leaderboard(frame(_rows()), floors={"r1": NoiseFloor(1.7), "r2": NoiseFloor(2.3)})
    assert ("Noise floor (A/A) per run: r1 1.7%; r2 2.3%. Latency and speedup differences under the largest, "
            "2.3%, cannot be told apart") in render_leaderboard_markdown(two)
    absent = render_leaderboard_markdown(leaderboard(frame(_rows()), floors={"r1": NoiseFloor(1.7)}))
    assert "Noise floor (A/A) per run: r1 1.7%; r2: its manifest was not read." in absent


def test_noise_floors_are_read_from_the_run_directories(tmp_path):
    for run, manifest in {"new": {"noise_floor": {"pct": 2.5, "cells": []}},
                          "old": {"schema_version": 2},
                          "off": {"suite": {"measure": {"latency": {"noise_floor": False}}}}}.items():
        (tmp_path / run).mkdir()
        raw = {"schema_version": 3, "run_id": run, "status": "complete", "suite_name": "s", **MANIFEST_KEYS, **manifest}
        (tmp_path / run / "manifest.json").write_text(json.dumps(raw))
    floors = read_noise_floors([tmp_path])
    assert floors == {"new": NoiseFloor(2.5),
                      "off": NoiseFloor(None, "switched off in the suite (measure.latency.noise_floor: false)"),
                      "old": NoiseFloor(None, "not measured: runs of schema 2 did not time the teacher against "
                                              "itself")}


# Paired ties: one run, 200 test examples. a is wrong on 0-9 (95%), b on 2-13 (94%), c on 0-29 (85%), the teacher on
# none. Their stored intervals: a and b disjoint (b's high end under a's low end), b and c overlapping. Latency at
# batch size 8: a 1% slower than b and c 0.5% slower than b, all three within a 1.7% floor; the teacher 10x.
PAIRED_TIES = {"a": ([*range(10)], (0.945, 0.955), (1.010, 1.005, 1.015)),
               "b": ([*range(2, 14)], (0.93, 0.944), (1.000, 0.995, 1.005)),
               "c": ([*range(30)], (0.80, 0.94), (1.005, 1.000, 1.010))}
TIE_MODELS = {"teacher": ([], (0.99, 1.0), (10.0, 9.9, 10.1)), **PAIRED_TIES}


def _tie_rows(latency: bool = False, runs: tuple[str, ...] = ("p1",), faster_c: bool = False) -> list[dict]:
    rows = []
    for run in runs:
        for model, (wrong, (low, high), p50) in TIE_MODELS.items():
            base = {"run_id": run, "suite": "p", "model": model, "method": "kd", "seed": 0, "device": "cpu",
                    "role": "teacher" if model == "teacher" else "student", "dtype": "float32", "status": "ok"}
            rows.append({**base, "metric": "accuracy", "value": 1 - len(wrong) / 200, "ci_low": low, "ci_high": high})
            if latency:
                value, lo, hi = (0.5, 0.49, 0.51) if faster_c and model == "c" else p50
                rows.append({**base, "metric": "latency_p50_ms", "batch_size": 8, "value": value, "ci_low": lo,
                             "ci_high": hi})
    return rows


def _tie_predictions(runs: tuple[str, ...] = ("p1",), seeds: int = 1) -> pd.DataFrame:
    from harness.rows import PREDICTION_COLUMNS

    rows = [{"run_id": run, "model": model, "seed": seed, "dtype": "float32", "example": i, "label": 0,
             "predicted": 1 if i in wrong else 0, "correct": i not in wrong, "agrees_with_teacher": None,
             "confidence": 0.9} for run in runs for seed in range(seeds)
            for model, (wrong, _, _) in TIE_MODELS.items() for i in range(200)]
    return frame(rows, PREDICTION_COLUMNS)


def _mcnemar(b: int, c: int) -> float:
    """The exact McNemar p of b and c discordant examples, by scipy's binomial test."""
    from scipy.stats import binomtest

    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def test_accuracy_ties_come_from_the_paired_test_where_the_run_kept_predictions():
    unpaired = leaderboard(frame(_tie_rows()))
    assert (unpaired["rank"].tolist(), unpaired["tie"].tolist()) == (["ref", "1", "2", "2"], ["", "", "", "=2"])
    assert unpaired.attrs["ties"].startswith("No per-example predictions of any two models of one suite")
    paired = leaderboard(frame(_tie_rows()), predictions=_tie_predictions())
    # a vs b: 4 examples for a, 2 for b, p = 0.6875: a tie though the intervals are disjoint; c is clearly below both
    # (20 and 18 examples, none for c) though its interval overlaps b's.
    assert paired["model"].tolist() == ["teacher", "a", "b", "c"]
    assert (paired["rank"].tolist(), paired["tie"].tolist()) == (["ref", "1", "1", "3"], ["", "", "=1", ""])
    tests = paired_accuracy_tests(paired, {"p": {"p1"}}, _tie_predictions())
    # Holm across the board's 6 pairs, the teacher's among them: the i-th smallest p times (6 - i), made monotone
    raw = {("a", "b"): _mcnemar(4, 2), ("a", "c"): _mcnemar(20, 0), ("b", "c"): _mcnemar(18, 0),
           ("teacher", "a"): _mcnemar(10, 0), ("teacher", "b"): _mcnemar(12, 0), ("teacher", "c"): _mcnemar(30, 0)}
    assert raw[("a", "b")] == pytest.approx(44 / 64) and raw[("a", "c")] == pytest.approx(2**-19)
    order = sorted(raw, key=raw.__getitem__)
    assert order == [("teacher", "c"), ("a", "c"), ("b", "c"), ("teacher", "b"), ("teacher", "a"), ("a", "b")]
    expected = {pair: (6 - i) * raw[pair] for i, pair in enumerate(order)}  # already increasing
    assert len(tests) == 6
    for (x, y), p in expected.items():
        test = tests.between(("p", x, ""), ("p", y, ""))
        assert test is not None and test.p == pytest.approx(p, rel=1e-9)
        assert test.ahead == ("p", x, "")  # the first of each pair is right more often
    text = render_leaderboard_markdown(paired)
    assert ("Holm-adjusted across the board's 6 tested pairs of models (teacher and students alike), gives p < 0.05 "
            "(exact paired test over test examples (McNemar with one seed a side), Holm-adjusted); that test, not "
            "the intervals, decides.") in text
    assert "a cached model rerun, or seeds that predict identically, count once" in text
    assert html.escape(paired.attrs["ties"]) in render_leaderboard_html(paired)
    by_params = leaderboard(frame([{**r, "metric": "params", "value": 10.0} for r in _tie_rows()]), by="params",
                            predictions=_tie_predictions())
    assert by_params.attrs["ties"] == ""  # the paired test is of accuracy only


@pytest.mark.parametrize(("runs", "seeds"), [(1, 1), (2, 1), (4, 1), (4, 3)])
def test_a_cached_model_rerun_is_not_new_data(runs, seeds):
    """The same predictions in 1, 2 or 4 runs (and seeds that predict identically) give one run's p: the exact
    McNemar test of the examples, not of (run, seed, example) triples pooled as if independent."""
    ids = tuple(f"p{k}" for k in range(1, runs + 1))
    board = leaderboard(frame(_tie_rows(runs=ids)), predictions=_tie_predictions(ids, seeds))
    tests = paired_accuracy_tests(board, {"p": set(ids)}, _tie_predictions(ids, seeds))
    test = tests.between(("p", "a", ""), ("p", "b", ""))
    assert test is not None and test.p == pytest.approx(_mcnemar(4, 2), rel=1e-12)  # Holm's factor is 1 for it
    assert (board["rank"].tolist(), board["tie"].tolist()) == (["ref", "1", "1", "3"], ["", "", "=1", ""])
    # pooled as before, 3 seeds x 4 runs would have been 48 against 24 "pairs": p = 0.006, a clear call from the
    # same 6 discordant examples read twelve times
    assert _mcnemar(48, 24) < 0.05


def test_runs_on_different_examples_are_not_paired():
    predictions = _tie_predictions(("p1", "p2"))
    moved = (predictions["run_id"] == "p2") & (predictions["model"] == "b") & (predictions["example"] == 0)
    predictions.loc[moved, "label"] = 1  # b's second run is not on the same examples as a's
    board = pd.DataFrame({"suite": "p", "model": list(TIE_MODELS)})
    tests = paired_accuracy_tests(board, {"p": {"p1", "p2"}}, predictions)
    assert tests.between(("p", "a", ""), ("p", "b", "")) is None
    assert tests.between(("p", "a", ""), ("p", "c", "")) is not None  # a and c still agree on theirs
    assert len(tests) == 3  # teacher-a, teacher-c, a-c


def _pareto(board: pd.DataFrame) -> dict[str, bool]:
    return dict(zip(board["model"], board["pareto"], strict=True))


@pytest.mark.parametrize("by", ["accuracy", "latency_p50_ms"])
def test_pareto_takes_no_model_off_the_front_on_an_accuracy_difference_the_test_does_not_find(by):
    """The audit's case: a and b tie on accuracy (paired test p = 0.69, though their intervals are disjoint) at
    latencies within the floor, so both stay on the front; c is clearly less accurate than a (p < 0.05 after
    Holm) and not clearly faster, so it is off. Whatever the ranked metric, the same tests decide."""
    board = leaderboard(frame(_tie_rows(latency=True)), by=by, floors=FLOOR, predictions=_tie_predictions())
    assert _pareto(board) == {"teacher": True, "a": True, "b": True, "c": False}
    unpaired = leaderboard(frame(_tie_rows(latency=True)), by=by, floors=FLOOR)  # disjoint intervals: a beats b
    assert _pareto(unpaired) == {"teacher": True, "a": True, "b": False, "c": False}


def test_pareto_keeps_a_clearly_less_accurate_model_that_is_clearly_faster():
    board = leaderboard(frame(_tie_rows(latency=True, faster_c=True)), floors=FLOOR, predictions=_tie_predictions())
    assert _pareto(board) == {"teacher": True, "a": True, "b": True, "c": True}
