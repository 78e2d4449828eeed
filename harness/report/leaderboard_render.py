"""The leaderboard's files: its table as strings, Markdown, a self-contained HTML page and CSV, and back.

:func:`harness.report.leaderboard.leaderboard` computes the table; this
module only shows it: the caption (what was ranked, where latency was taken,
and for a metric of a serving scenario what its interval is), the legend, the
runs' A/A noise floors and the notes on missing values.

>>> SHOWN[:3]
('accuracy', 'params', 'size_bytes')
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.metrics import metric
from harness.report import noise
from harness.report.formatting import MISSING, format_interval, format_value, header, markdown_table
from harness.report.noise import NoiseFloor, largest

#: metrics every leaderboard shows; the ranked metric is added when it is not one of them
SHOWN = ("accuracy", "params", "size_bytes", "latency_p50_ms", "throughput_sps", "speedup_vs_teacher")
#: metrics shown with their interval
WITH_INTERVAL = ("accuracy", "latency_p50_ms", "speedup_vs_teacher")


def _ranked_by(table: pd.DataFrame) -> str:
    return str(table.attrs.get("by", "accuracy"))


def _caption(table: pd.DataFrame) -> str:
    by = _ranked_by(table)
    direction = "higher" if metric(by).higher_is_better else "lower"
    batch = table["batch_size"].dropna()
    where = f" Latency and throughput at batch size {int(batch.iloc[0])}" if len(batch) else ""
    devices_ = table["device"].dropna()
    where += f" on {devices_.iloc[0]}." if where and len(devices_) else ("." if where else "")
    runs = int(table.attrs.get("runs", table["runs"].max()))
    scenario = f" {table.attrs['scenarios']}" if table.attrs.get("scenarios") else ""
    return f"Students ranked by {by} ({direction} is better) across {runs} run(s).{where}{scenario}"


LEGEND = ("Values are means over seeds (each seed averaged over the runs that have it) with 95% intervals "
          "(Student-t across seeds; one seed: its own interval). Shared rank where intervals overlap so no one "
          "claims a place the "
          "data does not support: =k marks a row whose interval overlaps that of the row holding rank k "
          "(ranked on speed: or whose value is within the noise floor of it). "
          "Pareto: no other model is clearly better on one axis and not clearly worse on the other: clearly more "
          "accurate by the paired test over test examples where both have predictions on them (else disjoint 95% "
          "intervals), clearly faster with disjoint latency intervals and a difference beyond the noise floor. "
          "Speedup vs teacher: teacher p50 / model p50 from the same paired "
          "rounds; (unpaired): a run without it (before schema 3), the ratio of p50s timed in separate windows. "
          "ref: the teacher, not ranked.")


def floor_statement(floors: Mapping[str, NoiseFloor]) -> str:
    """The runs' A/A noise floors as the leaderboard states them: one run's sentence, or each run's floor and
    the largest, which is the one ties and the Pareto flags use."""
    if len(floors) == 1:
        return noise.sentence(next(iter(floors.values())))
    each = "; ".join(f"{run} {noise.format_pct(f.pct)}" if f.pct is not None else f"{run}: {f.reason}"
                     for run, f in floors.items())
    worst = largest(floors.values())
    if worst is None:
        return f"{noise.PREFIX} per run: {each}. None was measured, so speed is judged by intervals alone."
    return (f"{noise.PREFIX} per run: {each}. Latency and speedup differences under the largest, "
            f"{noise.format_pct(worst)}, cannot be told apart: they count as ties in ranks and Pareto flags.")


def _floor_statement(table: pd.DataFrame) -> str:
    floors = table.attrs.get("noise_floors")
    return floor_statement(floors) if floors else f"{noise.PREFIX}: not known (the table was read back from CSV)."


def display_leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as strings, for Markdown and HTML."""
    by = _ranked_by(table)
    out = table[["rank", "tie", "model", "method", "suite", "runs", "seeds"]].astype(str)
    for name, label in (("accuracy", "accuracy"), ("params", "params"), ("size_bytes", "size"),
                        ("latency_p50_ms", "latency p50"), ("throughput_sps", "throughput"),
                        ("speedup_vs_teacher", "speedup vs teacher")):
        unit = metric(name).unit
        out[header(label, unit)] = [format_value(v, unit) for v in table[name]]
        if name == "speedup_vs_teacher" and "speedup_paired" in table:
            out[label] = [text if paired or text == MISSING else f"{text} (unpaired)"
                          for text, paired in zip(out[label], table["speedup_paired"], strict=True)]
        if f"{name}_low" in table:
            out[f"{label} 95% CI"] = [format_interval(lo, hi, unit)
                                      for lo, hi in zip(table[f"{name}_low"], table[f"{name}_high"], strict=True)]
    if by not in SHOWN:
        unit = metric(by).unit
        out[header(by, unit)] = [format_value(v, unit) for v in table[by]]
        out[f"{by} {table.attrs.get('interval', '95% CI')}"] = [format_interval(lo, hi, unit)
                               for lo, hi in zip(table[f"{by}_low"], table[f"{by}_high"], strict=True)]
    out["pareto"] = ["yes" if flag else "" for flag in table["pareto"]]
    return out


def _notes(table: pd.DataFrame) -> list[str]:
    return [f"{row['model']} ({row['suite']}): {row['notes']}" for row in table.to_dict("records") if row["notes"]]


def _title(table: pd.DataFrame) -> str:
    return str(table.attrs.get("title", "Leaderboard"))


def render_leaderboard_markdown(table: pd.DataFrame) -> str:
    """The leaderboard as Markdown: caption, table, legend and notes on missing values."""
    notes = _notes(table)
    suite = [table.attrs["suite_note"]] if "suite_note" in table.attrs else []
    parts = [f"# {_title(table)}", *suite, _caption(table), markdown_table(display_leaderboard(table)), LEGEND,
             *([table.attrs["ties"]] if table.attrs.get("ties") else []), _floor_statement(table)]
    if notes:
        parts.append("\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;border-bottom:1px solid #ddd;"
        "text-align:right}th{background:#f4f4f4}td:nth-child(-n+5),th:nth-child(-n+5){text-align:left}"
        "tbody tr:hover{background:#fafafa}p{max-width:60em}")


def render_leaderboard_html(table: pd.DataFrame) -> str:
    """The leaderboard as one self-contained HTML page (inline CSS, no external resources)."""
    body = display_leaderboard(table).to_html(index=False, escape=True, border=0, classes="leaderboard")
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in _notes(table))
    title = html.escape(_title(table))
    suite = f"<p>{html.escape(table.attrs['suite_note'])}</p>" if "suite_note" in table.attrs else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body><h1>{title}</h1>{suite}"
            f"<p>{html.escape(_caption(table))}</p>\n"
            f"{body}\n<p>{html.escape(LEGEND)}</p>"
            + (f"<p>{html.escape(table.attrs['ties'])}</p>" if table.attrs.get("ties") else "")
            + f"<p>{html.escape(_floor_statement(table))}</p>"
            + (f"<ul>{notes}</ul>" if notes else "") + "</body></html>\n")


def write_leaderboard(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write leaderboard.md, leaderboard.html and leaderboard.csv into ``out_dir``; return their paths by format."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "leaderboard.md", "html": out_dir / "leaderboard.html", "csv": out_dir / "leaderboard.csv"}
    paths["md"].write_text(render_leaderboard_markdown(table), encoding="utf-8")
    paths["html"].write_text(render_leaderboard_html(table), encoding="utf-8")
    table.to_csv(paths["csv"], index=False)
    return paths


def read_leaderboard(path: Path) -> pd.DataFrame:
    """A leaderboard.csv back as the table :func:`leaderboard` returned (without ``attrs``)."""
    types: dict[str, Any] = {**dict.fromkeys(("rank", "tie", "model", "method", "suite", "device", "notes"), str),
                             "batch_size": "Int64"}
    table = pd.read_csv(path, dtype=types)
    for column in ("tie", "notes"):
        table[column] = table[column].fillna("")
    return table
