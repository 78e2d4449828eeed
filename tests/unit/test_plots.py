"""Figures on hand-made results tables: Pareto frontier, figure or skip with its reason, one palette."""

import math

import pandas as pd
import pytest
import seaborn as sns
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from harness.report import plots

SIZES = (1, 8)


def _row(model, role, method, metric, value, *, seed=0, batch_size=None, status="ok", low=None, high=None,
         error=""):
    return {"model": model, "role": role, "method": method, "seed": seed, "device": "cpu", "dtype": "float32",
            "batch_size": batch_size, "metric": metric, "value": value,
            "ci_low": math.nan if low is None else low, "ci_high": math.nan if high is None else high,
            "status": status, "error": error}


def _results(seeds=(0,), energy=False, paired=False) -> pd.DataFrame:
    """teacher (big, accurate), kd (small, fast), slow (dominated), over ``seeds``; with ``paired``, their
    speedup_vs_teacher rows (teacher p50 / model p50, interval ± 5%)."""
    spec = {"teacher": ("teacher", "train", 0.95, 10_000, 1.0), "kd": ("student", "kd", 0.90, 1_000, 0.2),
            "slow": ("student", "scratch", 0.85, 2_000, 0.5)}
    rows = []
    for seed in seeds:
        for model, (role, method, acc, params, ms) in spec.items():
            acc += 0.01 * seed
            rows += [_row(model, role, method, "accuracy", acc, seed=seed, low=acc - 0.02, high=acc + 0.02),
                     _row(model, role, method, "params", params, seed=seed),
                     _row(model, role, method, "size_bytes", 4 * params, seed=seed)]
            for b in SIZES:
                rows += [_row(model, role, method, "latency_p50_ms", ms * b, seed=seed, batch_size=b,
                              low=0.9 * ms * b, high=1.1 * ms * b),
                         _row(model, role, method, "throughput_sps", 1000 / ms, seed=seed, batch_size=b),
                         *([_row(model, role, method, "speedup_vs_teacher", 1.0 / ms, seed=seed, batch_size=b,
                                 low=0.95 / ms, high=1.05 / ms)] if paired else []),
                         _row(model, role, method, "peak_memory_bytes", 4 * params + 100 * b, seed=seed,
                              batch_size=b)]
                rows.append(_row(model, role, method, "energy_j_per_sample", 0.01 * b, seed=seed, batch_size=b)
                            if energy else
                            _row(model, role, method, "energy_j_per_sample", math.nan, seed=seed, batch_size=b,
                                 status="skipped", error="needs a cuda device"))
    df = pd.DataFrame(rows)
    df["batch_size"] = df["batch_size"].astype("Int64")
    return df


def _tied_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run (r1, suite s) at batch size 1 and its predictions on 200 test examples: kd wrong on 0-9 (95%),
    slow on 2-13 (94%; disjoint intervals, but the paired test finds no difference: p = 0.69), the teacher on none;
    kd 1% slower than slow, under a 1.7% noise floor."""
    from harness.rows import PREDICTION_COLUMNS
    from harness.store import frame

    spec = {"teacher": ("teacher", [], (0.99, 1.0), (10.0, 9.9, 10.1)),
            "kd": ("student", [*range(10)], (0.945, 0.955), (1.010, 1.005, 1.015)),
            "slow": ("student", [*range(2, 14)], (0.93, 0.944), (1.000, 0.995, 1.005))}
    rows, predictions = [], []
    for model, (role, wrong, (low, high), (p50, p50_low, p50_high)) in spec.items():
        rows += [_row(model, role, "kd", "accuracy", 1 - len(wrong) / 200, low=low, high=high),
                 _row(model, role, "kd", "latency_p50_ms", p50, batch_size=1, low=p50_low, high=p50_high)]
        predictions += [{"run_id": "r1", "model": model, "seed": 0, "dtype": "float32", "example": i, "label": 0,
                         "predicted": int(i in wrong), "correct": i not in wrong, "confidence": 0.9}
                        for i in range(200)]
    return frame([{**r, "run_id": "r1", "suite": "s"} for r in rows]), frame(predictions, PREDICTION_COLUMNS)


def _outlined(fig: Figure) -> set[str]:
    return {c.get_label() for ax in fig.axes for c in ax.collections if c.get_gid() == "pareto"}


def test_the_pareto_figure_outlines_the_leaderboards_pareto_column():
    from harness.report.leaderboard import leaderboard
    from harness.report.noise import NoiseFloor

    df, predictions = _tied_run()
    colours = plots.palette(df)
    for given, front in (({"predictions": predictions}, {"teacher", "kd", "slow"}),  # the test: no difference
                         ({}, {"teacher", "kd"})):  # intervals alone: kd clearly more accurate, not clearly slower
        board = leaderboard(df, floors={"r1": NoiseFloor(1.7)}, **given)
        assert {m for m, on in zip(board["model"], board["pareto"], strict=True) if on} == front
        tests = plots.pareto_tests(df, given.get("predictions"))
        for draw in (plots.pareto, plots.accuracy_vs_latency):
            assert _outlined(draw(df, colours, tests, floor_pct=1.7)) == front, (draw, given)


def test_palette_teacher_first_and_stable():
    df = _results()
    colours = plots.palette(df)
    first = sns.color_palette("colorblind")
    assert list(colours) == ["teacher", "kd", "slow"]
    assert colours["teacher"] == tuple(first[0]) and colours["kd"] == tuple(first[1])
    # the teacher is first even when its rows come last
    assert plots.palette(df.iloc[::-1])["teacher"] == tuple(first[0])


def _colours(fig: Figure, label: str) -> set[tuple[float, float, float]]:
    """Colours of every artist labelled ``label`` in ``fig``."""
    found = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label() == label:
                found.add(to_rgb(line.get_color()))
        for coll in ax.collections:
            if coll.get_label() == label:
                found.add(to_rgb(coll.get_facecolor()[0]))
    return found


@pytest.mark.parametrize("name", ["pareto", "accuracy_vs_latency", "latency_throughput", "speedup_vs_teacher",
                                  "peak_memory", "compression", "energy", "seed_accuracy"])
def test_every_figure_draws_with_data_and_one_colour_per_model(name):
    df = _results(seeds=(0, 1, 2), energy=True, paired=True)
    colours = plots.palette(df)
    fig = plots.FIGURES[name][1](df, colours)
    assert isinstance(fig, Figure)
    for model in ("teacher", "kd"):
        assert _colours(fig, model) == {colours[model]}, (name, model)


def test_accuracy_vs_latency_marks_the_front():
    fig = plots.accuracy_vs_latency(_results(), plots.palette(_results()))
    assert [ax.get_title() for ax in fig.axes] == ["batch size 1 (cpu)", "batch size 8 (cpu)"]
    ax = fig.axes[0]
    edged = {c.get_label() for c in ax.collections if c.get_gid() == "pareto"}
    assert edged == {"teacher", "kd"}  # slow is dominated by kd
    step = next(line for line in ax.get_lines() if line.get_label() == "Pareto frontier")
    assert list(step.get_xdata()) == [0.2, 1.0] and list(step.get_ydata()) == [90.0, 95.0]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "accuracy (%)" and ax.get_xlabel() == "latency p50 (ms)"


def test_figures_missing_data_are_skipped_with_the_reason():
    df = _results()
    colours = plots.palette(df)
    assert plots.energy(df, colours) == plots.Skipped("no energy was measured: it needs a cuda device with NVML")
    assert plots.seed_accuracy(df, colours).reason.startswith("one seed:")
    no_latency = df[~df["metric"].isin(["latency_p50_ms", "throughput_sps", "peak_memory_bytes"])]
    assert isinstance(plots.latency_throughput(no_latency, colours), plots.Skipped)
    assert isinstance(plots.peak_memory(no_latency, colours), plots.Skipped)
    assert isinstance(plots.accuracy_vs_latency(no_latency, colours), plots.Skipped)
    assert isinstance(plots.pareto(no_latency, colours), plots.Skipped)
    assert plots.compression(df[df["role"] != "teacher"], colours) == plots.Skipped(
        "the run has no teacher to compare with")


def test_the_pareto_figure_is_the_headline_cell_alone():
    """One panel: the first device's smallest batch size, where the report's headline takes its speedup."""
    fig = plots.pareto(_results(), plots.palette(_results()))
    (ax,) = fig.axes
    assert ax.get_title() == "batch size 1 (cpu)"
    assert {c.get_label() for c in ax.collections if c.get_gid() == "pareto"} == {"teacher", "kd"}


def test_write_figures(tmp_path):
    written, skipped = plots.write_figures(_results(), tmp_path)
    assert set(written) == {"pareto", "accuracy_vs_latency", "latency_throughput", "peak_memory", "compression"}
    assert set(skipped) == {"energy", "seed_accuracy", "speedup_vs_teacher", "reliability", "accuracy_under_noise"}
    assert skipped["speedup_vs_teacher"].startswith("no paired speedup_vs_teacher in these results")
    assert skipped["reliability"] == ("these results have no per-example predictions (a run before schema 4, or not "
                                      "a classification task)")
    assert skipped["accuracy_under_noise"].startswith("no accuracy_under_noise rows in these results")
    for path in written.values():
        assert path.parent == tmp_path and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_speedup_figure_draws_the_paired_metric_and_its_interval():
    df = _results(paired=True)
    fig = plots.speedup_vs_teacher(df, plots.palette(df))
    ax = fig.axes[0]
    kd = next(line for line in ax.get_lines() if line.get_label() == "kd")
    assert list(kd.get_xdata()) == [1, 8] and list(kd.get_ydata()) == [5.0, 5.0]  # 1 / 0.2, the stored value
    assert ax.get_ylabel() == "speedup vs teacher, paired, 95% interval as band (x)"
    assert any(list(line.get_ydata()) == [1.0, 1.0] and line.get_linestyle() == ":" for line in ax.get_lines())


def _predictions() -> pd.DataFrame:
    """teacher and kd on 100 examples: the teacher right with confidence 0.95 on all but 5 (0.55 there), kd right on
    60 with confidence 0.99 (over-confident) and wrong on 40 with confidence 0.65."""
    from harness.rows import PREDICTION_COLUMNS
    from harness.store import frame

    rows = []
    for model, wrong, (right_conf, wrong_conf) in (("teacher", 5, (0.95, 0.55)), ("kd", 40, (0.99, 0.65))):
        rows += [{"run_id": "r1", "model": model, "seed": 0, "dtype": "float32", "example": i, "label": 0,
                  "predicted": 0 if i >= wrong else 1, "correct": i >= wrong, "agrees_with_teacher": None,
                  "confidence": right_conf if i >= wrong else wrong_conf} for i in range(100)]
    return frame(rows, PREDICTION_COLUMNS)


def test_the_reliability_diagram_puts_each_bins_accuracy_against_its_confidence():
    from harness.report import quality_plots

    df = _results()
    fig = quality_plots.reliability(df, _predictions(), plots.palette(df))
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["perfect calibration"].get_xdata()) == [0, 100]
    # 15 bins: 0.55 and 0.65 fall in bins 9 and 10, 0.95 and 0.99 in bin 15; kd is right on 60 of its 60 at 0.99
    assert [round(x, 6) for x in lines["kd"].get_xdata()] == [65.0, 99.0]
    assert list(lines["kd"].get_ydata()) == [0.0, 100.0]
    assert [round(x, 6) for x in lines["teacher"].get_xdata()] == [55.0, 95.0]
    assert "slow" not in lines  # no predictions: no line
    skipped = quality_plots.reliability(df, quality_plots.no_predictions(), plots.palette(df))
    assert isinstance(skipped, plots.Skipped) and "no per-example predictions" in skipped.reason


def test_accuracy_under_noise_is_drawn_from_its_rows_with_the_clean_accuracy_at_zero(tmp_path):
    from harness.report import quality_plots

    df = _results(seeds=(0, 1))
    noisy = [_row("kd", "student", "kd", "accuracy_under_noise", acc, seed=seed, low=acc - 0.05, high=acc + 0.05)
             | {"noise_sigma": sigma} for seed in (0, 1) for sigma, acc in ((0.5, 0.80 + 0.01 * seed),
                                                                              (1.0, 0.60 + 0.01 * seed))]
    df = pd.concat([df.assign(noise_sigma=math.nan), pd.DataFrame(noisy)], ignore_index=True)
    fig = quality_plots.accuracy_under_noise(df, quality_plots.no_predictions(), plots.palette(df))
    kd = next(line for line in fig.axes[0].get_lines() if line.get_label() == "kd")
    assert list(kd.get_xdata()) == [0.0, 0.5, 1.0]
    assert [round(y, 6) for y in kd.get_ydata()] == [90.5, 80.5, 60.5]  # means over the two seeds, the clean first
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["kd"]  # only kd was measured under noise
    written, skipped = plots.write_figures(df, tmp_path, _predictions())
    assert {"reliability", "accuracy_under_noise"} <= set(written) and "reliability" not in skipped
