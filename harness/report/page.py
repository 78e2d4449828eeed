"""Self-contained HTML pages: escaping, tables, notes, embedded figures and the page around them.

The run report (:mod:`harness.report.html`) and the hardware report
(:mod:`harness.report.hardware_report`) are built from these. A page has
inline CSS, figures as data URIs and no external URL, so it opens offline.
A small inline script records on load how many images decoded
(``<body data-images="decoded:N/M">``), which the browser test reads.

>>> table(["model", "p50 (ms)"], [["kd-16", None]]).split("<tbody>")[1]
'<tr><td>kd-16</td><td>—</td></tr></tbody></table>'
>>> escape("<b> & 'x'")
'&lt;b&gt; &amp; &#x27;x&#x27;'
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from harness.report.formatting import MISSING

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
.beside { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.beside > div { flex: 1 1 600px; min-width: min-content; } .beside > figure { flex: 0 1 460px; margin: 0.5rem 0; }
.beside th:last-child, .beside td:last-child { text-align: left; min-width: 11em; }
"""
NOTE = ' class="note"'
#: sets <body data-images="decoded:N/M"> once the page has loaded (read by the browser test)
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.dataset.images = "decoded:" + decoded + "/" + images.length;
});
"""


def escape(text: object) -> str:
    """``text`` safe inside an element or a quoted attribute."""
    return html.escape(str(text), quote=True)


def _cell(value: object) -> str:
    return escape(MISSING if value is None or (isinstance(value, float) and pd.isna(value)) else value)


def table(columns: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """A table of cells as they are (strings already formatted; None or NaN shown as '—')."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def frame(frame: pd.DataFrame) -> str:
    """A data frame of formatted strings as a :func:`table`."""
    return table(frame.columns, frame.itertuples(index=False))


def paragraph(text: str, *, note: bool = False) -> str:
    """One paragraph ('' for no text); ``note``: in the small grey type of a table's notes."""
    return f"<p{NOTE if note else ''}>{escape(text)}</p>" if text else ""


def bullets(lines: Sequence[str], *, note: bool = False) -> str:
    """A list ('' for no lines)."""
    if not lines:
        return ""
    return f"<ul{NOTE if note else ''}>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def notes(lines: Sequence[str], head: str = "Missing values:") -> str:
    """Notes under a table: ``head``, then one line each ('' for none)."""
    return paragraph(head, note=True) + bullets(lines, note=True) if lines else ""


def figure(name: str, caption: str, path: Path) -> str:
    """The PNG at ``path`` embedded as a data URI, with its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure id="fig-{escape(name)}"><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def figures(shown: Iterable[tuple[str, str, Path]], left_out: Sequence[str] = ()) -> str:
    """The Figures section: each (name, caption, PNG) embedded, then the figures left out with why."""
    parts = [figure(name, caption, path) for name, caption, path in shown]
    if not parts and not left_out:
        return ""
    return "<h2>Figures</h2>" + "".join(parts) + notes(left_out, "Left out:")


def page(title: str, body: Iterable[str]) -> str:
    """One self-contained HTML page: ``title``, then the blocks of ``body`` ('' blocks left out)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
