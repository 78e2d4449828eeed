"""What every figure of a report shares: the Agg backend, one palette per report, a figure, its legend, and
:class:`Skipped` for a figure the data cannot support.

>>> Skipped("no latency was measured").reason
'no latency was measured'
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot (which seaborn imports): no display is ever needed

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.report import tables  # noqa: E402

DPI = 110
Palette = dict[str, tuple[float, float, float]]


@dataclass(frozen=True)
class Skipped:
    """A figure left out, and why."""

    reason: str


def palette(df: pd.DataFrame) -> Palette:
    """Model -> colour from seaborn's "colorblind" palette in :func:`~harness.report.tables.model_order`
    (the teacher always gets the first colour)."""
    order = tables.model_order(df)
    colours = sns.color_palette("colorblind", n_colors=10)
    return {model: tuple(colours[i % len(colours)]) for i, model in enumerate(order)}


def new_figure(ncols: int = 1, width: float = 6.0) -> tuple[Figure, list[Axes]]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = Figure(figsize=(width * ncols, 4.2), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def legend(fig: Figure, axes: list[Axes]) -> None:
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside right upper", frameon=False)
