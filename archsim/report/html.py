"""index.html: one self-contained page (inline SVG figures, HTML tables, the specs used).

No scripts, no external files, fonts or styles: the page renders the same from a mail
attachment as from the results directory.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from archsim.files import replace_atomically

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; color: #222;
       background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 3em; background: white; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #555; font-size: 0.9em; }
.finding { background: #f3f7fb; border-left: 4px solid #1f77b4; padding: 0.6em 1em; margin: 0.6em 0; }
.warning { background: #fdf3f2; border-left: 4px solid #d62728; padding: 0.6em 1em; margin: 0.6em 0; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f0f0f0; }
td.text, th.text { text-align: left; }
.scroll { overflow-x: auto; }
pre { background: #f6f6f6; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
details summary { cursor: pointer; font-weight: 600; margin: 0.4em 0; }
"""


@dataclass
class Section:
    """A titled part of the page: paragraphs, figures (inline SVG with a caption) and tables."""

    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, text: str, kind: str = "") -> "Section":
        cls = f' class="{kind}"' if kind else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def figure(self, svg: str, caption: str, name: str) -> "Section":
        self.parts.append(f'<figure id="fig-{html.escape(name)}">{svg}<figcaption>{html.escape(caption)} '
                          f'(<a href="plots/{html.escape(name)}.png">PNG</a>, '
                          f'<a href="plots/{html.escape(name)}.svg">SVG</a>)</figcaption></figure>')
        return self

    def table(self, table: pd.DataFrame, caption: str = "") -> "Section":
        self.parts.append((f"<p>{html.escape(caption)}</p>" if caption else "") +
                          f'<div class="scroll">{table_html(table)}</div>')
        return self

    def details(self, summary: str, data) -> "Section":
        body = data if isinstance(data, str) else json.dumps(data, indent=2)
        self.parts.append(f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(body)}</pre>"
                          f"</details>")
        return self


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_html(table: pd.DataFrame) -> str:
    """A plain HTML table (numbers right-aligned, text left-aligned, 4 significant digits)."""
    head = "".join(f'<th class="text">{html.escape(str(c))}</th>' for c in table.columns)
    rows = []
    for _, row in table.iterrows():
        cells = []
        for value in row:
            cls = "" if isinstance(value, (int, float)) and not isinstance(value, bool) else ' class="text"'
            cells.append(f"<td{cls}>{html.escape(_cell(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, meta: list[str], sections: list[Section]) -> str:
    """The whole document."""
    body = "".join(f"<section><h2>{html.escape(s.title)}</h2>{''.join(s.parts)}</section>" for s in sections)
    meta_html = " &middot; ".join(html.escape(m) for m in meta)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f'<body><main><h1>{html.escape(title)}</h1><p class="meta">{meta_html}</p>{body}</main></body></html>\n')


def write_page(directory: Path, title: str, meta: list[str], sections: list[Section]) -> Path:
    text = page(title, meta, sections)
    return replace_atomically(Path(directory) / "index.html", lambda tmp: tmp.write_text(text, encoding="utf-8"))
