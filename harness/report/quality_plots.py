"""Figures of quality beyond top-1 accuracy: calibration and robustness to input noise.

- :func:`reliability`: each model's accuracy against its confidence in 15
  equal-width bins of the top class's probability
  (:func:`harness.measure.paired_quality.calibration_bins`, every seed's
  predictions pooled), with the diagonal of perfect calibration: a point
  under it is a bin where the model is over-confident; a point's area is the
  share of examples in its bin. From ``predictions.parquet``.
- :func:`accuracy_under_noise`: accuracy against the std of the Gaussian
  noise added to the test inputs (``accuracy_under_noise`` rows, one per
  ``noise_sigma``; the clean accuracy at 0), mean over seeds with its 95%
  interval as a band.

Each is left out, with the reason, where the run has no data for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

from harness.measure.paired_quality import ECE_BINS, calibration_bins
from harness.report import predictions as examples
from harness.report import tables
from harness.report.drawing import Palette, Skipped, legend, new_figure
from harness.rows import Status

NOISE = "accuracy_under_noise"
no_predictions = examples.none


def reliability(df: pd.DataFrame, predictions: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Accuracy against mean confidence per confidence bin, one line per model, and the diagonal."""
    order = [m for m in tables.model_order(df) if not examples.of_model(predictions, m).empty]
    if not order:
        return Skipped(examples.WHY_NONE)
    fig, (ax,) = new_figure(width=5.2)
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    for model in order:
        rows = examples.of_model(predictions, model)
        count, confidence, accuracy = calibration_bins(rows["confidence"].to_numpy(dtype=float),
                                                       rows["correct"].to_numpy(dtype=bool))
        filled = count > 0
        x, y = 100 * confidence[filled], 100 * accuracy[filled]
        ax.plot(x, y, color=colours[model], linewidth=1, alpha=0.7, label=model)
        ax.scatter(x, y, s=8 + 150 * count[filled] / count.sum(), color=colours[model], zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel(f"confidence, mean of each of {ECE_BINS} bins (%)")
    ax.set_ylabel("accuracy in the bin (%); area: examples")
    legend(fig, [ax])
    return fig


def _noise_points(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """sigma, value, low, high of ``model``: its accuracy under each noise level (the clean accuracy at 0)."""
    mine = df[(df["model"] == model) & df["batch_size"].isna()]
    noisy = mine[mine["metric"] == NOISE]
    records = [{"sigma": float(sigma), **_estimate(noisy[noisy["noise_sigma"] == sigma])}
               for sigma in sorted(noisy["noise_sigma"].dropna().unique())]
    if records and not any(r["sigma"] == 0 for r in records):
        clean = _estimate(mine[mine["metric"] == "accuracy"])
        if not math.isnan(clean["value"]):
            records.insert(0, {"sigma": 0.0, **clean})
    return pd.DataFrame(records, columns=["sigma", "value", "low", "high"], dtype=float).dropna(subset=["value"])


def _estimate(rows: pd.DataFrame) -> dict[str, float]:
    est = tables.aggregate(rows)
    return {"value": est.value, "low": est.low, "high": est.high}


def accuracy_under_noise(df: pd.DataFrame, predictions: pd.DataFrame, colours: Palette) -> Figure | Skipped:
    """Accuracy against the noise std, one line per model, its 95% interval as a band."""
    if "noise_sigma" not in df.columns or not ((df["metric"] == NOISE) & (df["status"] == Status.OK)).any():
        return Skipped(f"no {NOISE} rows in these results: the suite set no noise levels (measure.noise_sigmas), "
                       "or the run predates them")
    drawn = {model: points for model in tables.model_order(df) if not (points := _noise_points(df, model)).empty}
    if not drawn:
        return Skipped(f"no model has both an accuracy and its {NOISE}")
    fig, (ax,) = new_figure(width=5.2)
    for model, points in drawn.items():
        ax.plot(points["sigma"], 100 * points["value"], marker="o", color=colours[model], label=model)
        if points["low"].notna().all() and points["high"].notna().all():
            ax.fill_between(points["sigma"], 100 * points["low"], 100 * points["high"], color=colours[model],
                            alpha=0.2, linewidth=0)
    ax.set_xlabel("std of the Gaussian noise added to the test inputs")
    ax.set_ylabel("accuracy, 95% interval as band (%)")
    ax.set_xticks(sorted({float(x) for points in drawn.values() for x in points["sigma"]}))
    legend(fig, [ax])
    return fig


PredictionFigure = Callable[[pd.DataFrame, pd.DataFrame, Palette], Figure | Skipped]
#: file stem -> (title, function(results, predictions, palette)), in report order, after the results' figures
FIGURES: dict[str, tuple[str, PredictionFigure]] = {
    "reliability": ("Reliability: accuracy against confidence per bin, the diagonal is perfect calibration",
                    reliability),
    "accuracy_under_noise": ("Accuracy against the std of Gaussian noise added to the test inputs",
                             accuracy_under_noise),
}
