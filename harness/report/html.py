"""The HTML report of one run: one self-contained file (inline CSS, figures as data URIs, no external URL).

It shows what report.md shows, worded and formatted by :mod:`harness.report.markdown`,
with the figures of :mod:`harness.report.plots` embedded. A small inline script
records on load how many images decoded (``<body data-images="decoded:N/M">``),
which the browser test reads.

>>> write_html_report(df, manifest, Path("reports/quick/run-1"))  # doctest: +SKIP
PosixPath('reports/quick/run-1/index.html')
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.report import formatting, markdown, tables

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.4rem; }
table.results { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
table.results th, table.results td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
table.results th { background: #f3f3f3; } table.results td:first-child { text-align: left; font-weight: 600; }
.note { color: #555; font-size: 0.85rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; }
"""
#: sets <body data-images="decoded:N/M"> once the page has loaded (read by the browser test)
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.dataset.images = "decoded:" + decoded + "/" + images.length;
});
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(classes="results", index=False, escape=True, border=0, na_rep=formatting.MISSING)


def _notes(lines: list[str], head: str = "Missing values:") -> str:
    if not lines:
        return ""
    return f'<p class="note">{_e(head)}</p><ul class="note">' + "".join(f"<li>{_e(n)}</li>" for n in lines) + "</ul>"


def _block(text: str) -> str:
    """A Markdown block of headings, bullets and paragraphs (as markdown.py writes them) as HTML."""
    out, bullets = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("- "):
            bullets.append(f"<li>{_e(line[2:])}</li>")
            continue
        if bullets:
            out.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        if line.startswith("## "):
            out.append(f"<h2>{_e(line[3:])}</h2>")
        elif line.strip():
            out.append(f"<p>{_e(line)}</p>")
    return "\n".join(out)


def _results(df: pd.DataFrame) -> str:
    parts = []
    for device in tables.devices(df):
        for size in tables.batch_sizes(df[df["device"] == device]):
            table = tables.summary_table(df, size, device=device)
            unpaired = markdown.speedup_note(table)
            parts.append(f"<h3>Batch size {size} ({_e(device)})</h3>" + _table(markdown.display_summary(table))
                         + (f'<p class="note">{_e(unpaired)}</p>' if unpaired else "")
                         + _notes(markdown.missing_notes(table)))
    if not parts:
        return ""
    return f'<h2>Results by batch size</h2><p class="note">{_e(markdown.LEGEND)}</p>' + "".join(parts)


def _figures(figures: dict[str, Path], skipped: dict[str, str], captions: dict[str, str] | None = None) -> str:
    """The figures embedded as data URIs; ``captions`` (name -> caption) default to the run report's."""
    if not figures and not skipped:
        return ""
    from harness.report import plots

    def title(name: str) -> str:
        return captions[name] if captions is not None else plots.title(name)

    parts = ["<h2>Figures</h2>"]
    for name, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f'<figure id="fig-{_e(name)}"><img alt="{_e(title(name))}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{_e(title(name))}</figcaption></figure>")
    if skipped:
        parts.append(_notes([f"{title(name)}: {reason}." for name, reason in skipped.items()], "Left out:"))
    return "".join(parts)


def render_html(df: pd.DataFrame, manifest: dict[str, Any], figures: dict[str, Path],
                skipped: dict[str, str]) -> str:
    """The report of one run as one HTML page; ``figures`` (name -> PNG) are embedded, ``skipped`` listed."""
    tables.check_columns(df)
    if df.empty:
        raise HarnessError("the results table is empty: nothing to report")
    heading, facts = markdown.title(df, manifest)
    from harness.report.variants import one_per_model

    models = tables.model_table(one_per_model(df))  # model-level metrics: one row per model, not per variant
    failures = markdown.failures_table(df)
    embedding = markdown.embedding_table(one_per_model(df))
    body = [
        f"<h1>{_e(heading)}</h1>", f"<p>{_e(facts)}</p>" if facts else "",
        "<h2>Machine</h2><ul>" + "".join(f"<li>{_e(line)}</li>" for line in markdown.machine_lines(manifest))
        + "</ul>",
        "<h2>Models</h2>" + _table(markdown.display_models(models)) + _notes(markdown.missing_notes(models)),
        "" if embedding is None else (f'<h2>Embedding quality</h2><p class="note">{_e(markdown.EMBEDDING_INTRO)}</p>'
                                      + _table(embedding)),
        *(_block(note) for note in markdown.notes(manifest)),
        _results(df),
        "" if failures is None else "<h2>Failures and skips</h2>" + _table(failures),
        f"<h2>Findings</h2><p>{_e(markdown.findings(df, manifest))}</p>",
        _figures(figures, skipped),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(heading)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


def write_html_report(df: pd.DataFrame, manifest: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/index.html``, ``out_dir/report.md`` and the figures' PNGs beside them; return index.html."""
    from harness.report.plots import write_figures
    from harness.report.variants import split_variants

    tables.check_columns(df)
    if df.empty:
        raise HarnessError("the results table is empty: nothing to report")
    df = tables.devices_by_threads(df)
    out_dir = Path(out_dir)
    df = split_variants(df)  # backends and sequence lengths are told apart, never pooled
    figures, skipped = write_figures(df, out_dir)
    markdown.write_markdown_report(df, manifest, out_dir, figures, skipped)
    path = out_dir / "index.html"
    path.write_text(render_html(df, manifest, figures, skipped), encoding="utf-8")
    return path
